"""A small HTTP port for the processes that have no web server: ``/metrics`` and health checks.

The feed worker (an RQ loop), the purger and the notifier answer on their own port from a
daemon thread with the standard library's WSGI server; their health checks are callables run
per request.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.exposition import ThreadingWSGIServer

from shared.metrics import exposition
from shared.problems import PROBLEM_TYPE, problem_document

HealthCheck = Callable[[], tuple[int, dict[str, Any]]]


class _QuietHandler(WSGIRequestHandler):
    """Scrapes every few seconds would flood the log; the service logs what matters."""

    def log_message(self, format: str, *args: Any) -> None:
        return


class _V6Server(ThreadingWSGIServer):
    address_family = socket.AF_INET6


def _wsgi_app(checks: dict[str, HealthCheck]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in {"GET", "HEAD"}:
            status, body, ctype = "405 Method Not Allowed", b"", "text/plain"
        elif path == "/metrics":
            body, ctype = exposition()
            status = "200 OK"
        elif path in checks:
            code, payload = checks[path]()
            status = f"{code} {'OK' if code == 200 else 'Service Unavailable'}"
            body, ctype = json.dumps(payload).encode(), "application/json"
        else:
            status, ctype = "404 Not Found", PROBLEM_TYPE
            detail = f"no such endpoint; try {', '.join(['/metrics', *checks])}"
            body = json.dumps(problem_document(404, detail)).encode()
        start_response(
            status,
            [("Content-Type", ctype), ("Content-Length", str(len(body))),
             ("Cache-Control", "no-store")],
        )  # fmt: skip
        return [body]

    return app


def serve_metrics(host: str, port: int, checks: dict[str, HealthCheck]) -> WSGIServer:
    """Serve ``/metrics`` and the given health paths on ``host:port`` from a daemon thread.

    Returns the server (``server.server_port`` is the bound port; ``shutdown()`` stops it).
    Raises OSError when the port is taken.
    """
    server_class = _V6Server if ":" in host else ThreadingWSGIServer  # LIVEFEED_HOST may be "::"
    server = make_server(host, port, _wsgi_app(checks), server_class, _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server
