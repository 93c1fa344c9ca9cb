"""The ingest service's metrics (requests by route and status come from the shared middleware)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

ITEMS = Counter(
    "livefeed_ingest_items",
    "Items received, by how ingest answered them: accepted (queued), unchanged or stale "
    "(answered at once, nothing queued), rejected (invalid).",
    ["status"],
)
for _status in ("accepted", "unchanged", "stale", "rejected"):
    ITEMS.labels(_status)


def record_items(counts: Mapping[str, int]) -> None:
    """Count one request's items by status."""
    for status, count in counts.items():
        if count:
            ITEMS.labels(status).inc(count)


async def workers_metrics_endpoint(request: Request) -> Response:
    """``GET /metrics`` of one of several ingest worker processes: every worker's samples, added.

    The workers share one port, so a scrape reaches any one of them. ``livefeed ingest`` points
    each worker's prometheus_client at one folder (``PROMETHEUS_MULTIPROC_DIR``), and this
    collector sums the counters and histograms found there, a dead worker's included.
    """
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(
        generate_latest(registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )
