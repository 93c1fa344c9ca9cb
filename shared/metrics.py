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

# The stages of a headline's way from its POST to a reader's screen, each observed by the
# process where it happens (``livefeed_stage_seconds{stage}``); bench/stages.py reads them.
STAGES = {
    "request": "ingest: the request's arrival to its enqueue (body, auth, parsing, validation)",
    "enqueue": "ingest: the enqueue's MULTI/EXEC round trip",
    "queue": "worker: the enqueue's start to the job's start (the round trip, RQ's dequeue)",
    "apply": "worker: the apply script's round trip (the event appended inside it)",
    "wake": "push: the event's append (Redis's clock) to the stream reader having it",
    "fanout": "push: the frames made and written to every matching reader's socket",
}
STAGE_BUCKETS = (
    0.00005, 0.0001, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004,
    0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
STAGE_SECONDS = Histogram(
    "livefeed_stage_seconds",
    "Time a headline spends in each stage from its POST to the readers' sockets "
    "(one process observes each stage; see shared.metrics.STAGES).",
    ["stage"],
    buckets=STAGE_BUCKETS,
)


def observe_stage(stage: str, seconds: float) -> None:
    """Record one headline's (or one request's) time in ``stage`` (a key of ``STAGES``)."""
    STAGE_SECONDS.labels(stage).observe(max(0.0, seconds))


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
