"""The feed worker's small HTTP port: ``/metrics``, ``/healthz`` and ``/readyz``.

The worker (an RQ loop) has no web server of its own, so a WSGI server from the standard
library answers on ``LIVEFEED_WORKER_METRICS_PORT`` from a daemon thread.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import redis
from prometheus_client.exposition import ThreadingWSGIServer

from services.feed.metrics import register_redis_state
from shared.metrics import exposition
from shared.problems import PROBLEM_TYPE, problem_document
from shared.redis_client import sync_client
from shared.settings import Settings

log = logging.getLogger(__name__)


HealthCheck = Callable[[], tuple[int, dict[str, Any]]]


class _QuietHandler(WSGIRequestHandler):
    """Scrapes every few seconds would flood the log; the service logs what matters."""

    def log_message(self, format: str, *args: Any) -> None:
        return


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
    server = make_server(host, port, _wsgi_app(checks), ThreadingWSGIServer, _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server


def start_worker_http(settings: Settings, url: str) -> WSGIServer | None:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``LIVEFEED_WORKER_METRICS_PORT``.

    A taken port is logged and the worker carries on without it: applying articles matters
    more than being watched.
    """
    # Its own client with a read timeout: the worker's own one blocks on BLMOVE for seconds.
    client = sync_client(url, settings)
    register_redis_state(client, settings)

    def healthz() -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ok"}

    def readyz() -> tuple[int, dict[str, Any]]:
        try:
            client.ping()
        except redis.RedisError:
            return 503, {"status": "unavailable", "redis": "unreachable"}
        return 200, {"status": "ready", "redis": "ok"}

    try:
        server = serve_metrics(
            settings.host, settings.worker_metrics_port, {"/healthz": healthz, "/readyz": readyz}
        )
    except OSError as exc:
        log.error(
            "worker metrics port %s unavailable (%s); running without /metrics",
            settings.worker_metrics_port,
            exc,
        )
        return None
    log.info(
        "worker metrics listening",
        extra={"host": settings.host, "port": server.server_port},
    )
    return server
