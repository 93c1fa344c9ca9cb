"""The ingest service's metrics (requests by route and status come from the shared middleware)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter

from services.ingest.intake import STATUSES

ITEMS = Counter(
    "livefeed_ingest_items",
    "Items received, by how ingest answered them: accepted (queued), unchanged or stale "
    "(answered at once, nothing queued), expired (older than the window, not queued), "
    "rejected (invalid).",
    ["status"],
)
for _status in STATUSES:
    ITEMS.labels(_status)


def record_items(counts: Mapping[str, int]) -> None:
    """Count one request's items by status."""
    for status, count in counts.items():
        if count:
            ITEMS.labels(status).inc(count)
