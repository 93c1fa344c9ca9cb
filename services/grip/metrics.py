"""The grip-publisher's metrics: publish latency, items acknowledged, failures, queues, lag."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS

PUBLISH_SECONDS = Histogram(
    "livefeed_grip_publish_latency_seconds",
    "From an event written to the log to its item acknowledged by a publish endpoint, "
    "observed once per item (one event on one channel).",
    ["target"],
    buckets=LATENCY_BUCKETS,
)
PUBLISHED = Counter(
    "livefeed_grip_items_published",
    "Items (one event on one channel) a publish endpoint acknowledged (2xx), by endpoint.",
    ["target"],
)
PUBLISH_FAILURES = Counter(
    "livefeed_grip_publish_failures",
    "Publish requests that failed (unreachable, timeout, non-2xx) and will be retried.",
    ["target"],
)
DROPPED = Counter(
    "livefeed_grip_items_dropped",
    "Items dropped because an endpoint's queue was full (its held streams recover them "
    "through prev-id; WebSocket readers on their next reconnect).",
    ["target"],
)
REJECTED = Counter(
    "livefeed_grip_items_rejected",
    "Items a publish endpoint refused as such (400, 413, 422 for the item alone) and that were "
    "dropped: held SSE and long-poll readers recover them through prev-id.",
    ["target"],
)
QUEUED = Gauge(
    "livefeed_grip_queue_items",
    "Items waiting for a publish endpoint (being sent or retried), by endpoint.",
    ["target"],
)
LAG = Gauge(
    "livefeed_grip_lag_seconds",
    "Age of the oldest event an endpoint has not acknowledged yet (0: none waiting).",
    ["target"],
)
POSITION_LAG = Gauge(
    "livefeed_grip_position_lag_seconds",
    "Age of the oldest event the publisher read from the log and has not given its items yet "
    "(0: caught up): grows while its process cannot keep up or is stuck.",
)
CHANNELS = Gauge(
    "livefeed_grip_channels",
    "Channels (reader filters) in use, answered by the origin within the last day: those a "
    "summary is published on (an article's event goes on every channel it reaches).",
)
