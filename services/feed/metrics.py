"""The feed worker's metrics: jobs and their outcomes, and the state of the queue and timeline.

The queue and timeline figures are read from Redis at scrape time (one pipelined round trip),
so they are right however many workers run; every worker reports the same values, so
aggregate them with ``max``, not ``sum``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from rq.job import Job
from rq.utils import utcparse

from shared import audience, keys
from shared.metrics import LATENCY_BUCKETS
from shared.redis_client import apply_queue
from shared.settings import Settings

log = logging.getLogger(__name__)

JOB_SECONDS = Histogram(
    "livefeed_job_duration_seconds",
    "Time to apply one queued job (one ingest request) to the timeline.",
    buckets=LATENCY_BUCKETS,
)
JOBS = Counter(
    "livefeed_jobs",
    "Jobs run by this worker, by result: finished, or failed (raised; RQ retries or parks it).",
    ["result"],
)
ITEMS = Counter(
    "livefeed_items_applied",
    "Items applied, by outcome: published, updated, corrected, unchanged, stale, retracted, "
    "embargoed, expired, not_found.",
    ["outcome"],
)
EMBARGOES_RELEASED = Counter(
    "livefeed_embargoes_released", "Embargoed articles this worker published when due."
)

# The feed app's view cache (readcache.py): a hit is served from memory, a miss rendered.
VIEWS = Counter(
    "livefeed_feed_views",
    "Timeline views (page, timeline, fragment, feeds, articles) served, by result: hit (from "
    "memory) or miss (rendered from Redis).",
    ["result"],
)
VIEW_HITS, VIEW_MISSES = VIEWS.labels("hit"), VIEWS.labels("miss")
# Its size (several workers: the live ones added up), bounded by LIVEFEED_VIEW_CACHE_BYTES each.
VIEW_CACHE_BYTES = Gauge(
    "livefeed_feed_view_cache_bytes",
    "Bytes the view cache counts against LIVEFEED_VIEW_CACHE_BYTES (bodies, headers, keys and "
    "a per-entry overhead).",
    multiprocess_mode="livesum",
)
VIEW_CACHE_ENTRIES = Gauge(
    "livefeed_feed_view_cache_entries",
    "Views the view cache holds.",
    multiprocess_mode="livesum",
)
# Compressed copies made (compression.py): once per view and state, once per static file; a
# count that grows with requests rather than with changes means bodies are compressed per request.
COMPRESSIONS = Counter(
    "livefeed_feed_compressions",
    "Response bodies compressed (each kept and sent to every later request that accepts it), "
    "by encoding.",
    ["encoding"],
)

# Create the series operators alert on, so they read 0 rather than "no data" before the first.
for _result in ("finished", "failed"):
    JOBS.labels(_result)
for _outcome in ("published", "updated", "corrected", "unchanged", "stale", "retracted"):
    ITEMS.labels(_outcome)


def record_job(started: float, outcomes: Sequence[dict[str, Any]] | None) -> None:
    """Count one job that finished (``outcomes``) or failed (``None``)."""
    JOB_SECONDS.observe(time.perf_counter() - started)
    if outcomes is None:
        JOBS.labels("failed").inc()
        return
    JOBS.labels("finished").inc()
    for outcome in outcomes:
        ITEMS.labels(str(outcome.get("outcome", "unknown"))).inc()


# The readers now (shared/audience.py), summed over every push process: one name per figure.
AUDIENCE_GAUGES = {
    "readers": (
        "livefeed_audience_readers",
        "Readers connected now (WebSocket and SSE connections), summed over every live push "
        "process.",
    ),
    "tabs": ("livefeed_audience_tabs", "Browser tabs those connections serve (a leader tab "
             "holds one connection for all tabs of a site)."),
    "processes": ("livefeed_audience_push_processes", "Push processes whose report is live."),
}  # fmt: skip


class RedisStateCollector(Collector):
    """Queue depth, failed jobs, timeline size, event log length, readers now, read when
    scraped."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        queue = apply_queue(client, settings)
        self.queue_name = queue.name
        self.queue_key = queue.key
        self.failed_key = queue.failed_job_registry.key
        self.scheduled_key = queue.scheduled_job_registry.key
        self.started_key = queue.started_job_registry.key

    def collect(self) -> Iterator[Metric]:
        """One pipelined round trip; when Redis does not answer, only ``livefeed_redis_up 0``."""
        up = GaugeMetricFamily("livefeed_redis_up", "1 when this worker can reach Redis.")
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(self.queue_key)
        pipe.zcard(self.started_key)
        pipe.zcard(self.scheduled_key)
        pipe.zcard(self.failed_key)
        pipe.zcard(keys.TIMELINE)
        pipe.zcard(keys.EMBARGO)
        pipe.xlen(keys.EVENTS)
        pipe.lindex(self.queue_key, 0)  # the oldest job waiting (RQ takes from the left)
        try:
            queued, started, scheduled, failed, timeline, embargoed, events, oldest = pipe.execute()
            age = self._age(oldest)
        except redis.RedisError as exc:
            log.debug("metrics scrape cannot reach Redis: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily(
            "livefeed_queue_jobs",
            "Jobs in the RQ queue by state: queued (waiting for a worker), started, "
            "scheduled (waiting to retry), failed (retries used up; ops requeue them).",
            labels=["queue", "state"],
        )
        for state, value in (
            ("queued", queued),
            ("started", started),
            ("scheduled", scheduled),
            ("failed", failed),
        ):
            depth.add_metric([self.queue_name, state], value)
        yield depth
        yield GaugeMetricFamily(
            "livefeed_queue_oldest_seconds",
            "How long the oldest job still queued has waited for a worker (0: none waiting).",
            value=age,
        )
        yield GaugeMetricFamily(
            "livefeed_timeline_items", "Live articles on the timeline.", value=timeline
        )
        yield GaugeMetricFamily(
            "livefeed_embargoed_items", "Articles waiting for their embargo.", value=embargoed
        )
        yield GaugeMetricFamily(
            "livefeed_event_log_length", "Events kept in the stream for resume.", value=events
        )
        yield from self._audience()

    def _audience(self) -> Iterator[Metric]:
        try:
            now = audience.read_sync(self.client)
        except redis.RedisError as exc:
            log.debug("metrics scrape cannot read the audience: %s", exc)
            return
        values = {"readers": now.readers, "tabs": now.total.tabs, "processes": now.processes}
        for figure, (name, documentation) in AUDIENCE_GAUGES.items():
            yield GaugeMetricFamily(name, documentation, value=values[figure])

    def _age(self, oldest: bytes | None) -> float:
        """Seconds since the job ``oldest`` was queued (0 when there is none)."""
        if oldest is None:
            return 0.0
        enqueued = self.client.hget(Job.key_for(oldest.decode()), "enqueued_at")
        if not isinstance(enqueued, bytes):
            return 0.0  # taken (and maybe finished) since the LINDEX
        waited = datetime.now(UTC) - utcparse(enqueued.decode()).replace(tzinfo=UTC)
        return max(waited.total_seconds(), 0.0)


def register_redis_state(client: redis.Redis, settings: Settings) -> None:
    """Add the Redis-state collector to this process's registry (once)."""
    REGISTRY.register(RedisStateCollector(client, settings))
