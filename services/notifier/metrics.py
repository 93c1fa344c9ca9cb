"""The notifier's metrics: what went out, what failed and why, how late, how backed up."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SENT = Counter(
    "livefeed_webpush_sent",
    "Push messages a push service accepted, by kind (alert, update, close, test)",
    ["kind"],
)
FAILED = Counter(
    "livefeed_webpush_failed",
    "Push messages given up on, by the push service's last status (or 'network')",
    ["status"],
)
RETRIES = Counter("livefeed_webpush_retries", "Requests retried after a 429, a 5xx or no answer")
DELETED = Counter(
    "livefeed_webpush_subscriptions_deleted",
    "Subscriptions deleted, by reason: gone (the push service answered 404/410), failing "
    "(LIVEFEED_PUSH_DROP_AFTER_FAILURES failures in a row), invalid (the endpoint is no URL "
    "the notifier may send to, whatever LIVEFEED_PUSH_SERVICES says)",
    ["reason"],
)
NOT_ALLOWED = Counter(
    "livefeed_webpush_not_allowed",
    "Messages not sent: the subscription's push service is not (any more) in "
    "LIVEFEED_PUSH_SERVICES (the subscription is kept)",
)
CAPPED = Counter(
    "livefeed_webpush_capped",
    "Alerts not sent: the subscription had its LIVEFEED_PUSH_ALERTS_PER_HOUR",
)
QUEUE_AGE = Gauge(
    "livefeed_webpush_queue_age_seconds",
    "How long the oldest event still being sent has waited since the notifier read it",
)
FRESHNESS = Histogram(
    "livefeed_webpush_alert_freshness_seconds",
    "From ingest accepting the article to a push service accepting its alert",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
DUE = Gauge(
    "livefeed_webpush_alert_due_timestamp_seconds",
    "Acceptance time of the newest article that had subscribers to alert",
)
DONE = Gauge(
    "livefeed_webpush_alert_sent_timestamp_seconds",
    "Acceptance time of the newest article whose alerts went out (at least one accepted, "
    "none failed for good)",
)
