"""Prometheus helpers every service shares: the request metrics, ``/metrics`` bodies, and a
tiny HTTP port for processes that have no web server of their own (the feed worker).

Each service defines its own metrics next to its code; this module holds only what is common.
Every process has its own registry (the default one): a scrape sees that one process, and
Prometheus adds the copies up.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from prometheus_client.exposition import ThreadingWSGIServer
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger(__name__)

# Latency buckets for anything a reader waits on: from a few milliseconds to a minute.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# A request that matched no route is counted under this one label, so that scanners probing
# random paths cannot create a time series per path.
UNMATCHED_ROUTE = "unmatched"

HTTP_REQUESTS = Counter(
    "livefeed_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "livefeed_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered HTTP request (called by ``RequestLogMiddleware``)."""
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_SECONDS.labels(route).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """This process's metrics in the Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics`` for a Starlette app."""
    body, content_type = exposition()
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


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
            status, ctype = "404 Not Found", "application/problem+json"
            body = json.dumps(
                {"type": "about:blank", "title": "Not found", "status": 404,
                 "detail": f"no such endpoint; try {', '.join(['/metrics', *checks])}"}
            ).encode()  # fmt: skip
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
