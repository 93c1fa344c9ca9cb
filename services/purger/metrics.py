"""The purger's metrics: purge latency, acknowledged purges and failures by backend, queues."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS

PURGE_SECONDS = Histogram(
    "livefeed_purge_latency_seconds",
    "From an event written to the log to its purge acknowledged by a backend.",
    ["backend"],
    buckets=LATENCY_BUCKETS,
)
PURGES = Counter(
    "livefeed_purges",
    "Purge requests a backend acknowledged (2xx), by backend.",
    ["backend"],
)
PURGE_FAILURES = Counter(
    "livefeed_purge_failures",
    "Purge requests that failed (unreachable, timeout, non-2xx) and will be retried, by backend.",
    ["backend"],
)
PURGE_QUEUE = Gauge(
    "livefeed_purge_queue_keys",
    "Surrogate keys waiting to be purged (coalescing or being retried), by backend.",
    ["backend"],
)
PURGE_QUEUE_AGE = Gauge(
    "livefeed_purge_queue_age_seconds",
    "Age of the oldest event whose purge a backend has not acknowledged yet (0: none).",
    ["backend"],
)
