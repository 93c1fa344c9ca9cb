"""Prometheus helpers every service shares: the HTTP request metrics and ``/metrics`` bodies.

Each service defines its own metrics next to its code; this module holds only what is common.
Every process has its own registry (the default one): a scrape sees that one process, and
Prometheus adds the copies up.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

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
