"""The push service's metrics.

The hot path stays cheap: the hub keeps plain integer counters (``HubStats``) that are read
only when Prometheus scrapes, and the one histogram, freshness, is observed once per event,
never per client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from services.push.hub import Hub
from shared.metrics import LATENCY_BUCKETS

FRESHNESS = Histogram(
    "livefeed_push_freshness_seconds",
    "From ingest accepting an item to this push process writing its frame to every client "
    "(across hosts this includes their clock difference).",
    buckets=LATENCY_BUCKETS,
)


def observe_freshness(accepted_ms: bytes | None) -> None:
    """Record how old an event is as it is fanned out (``at`` field; absent for embargoes)."""
    if accepted_ms:
        FRESHNESS.observe(max(0.0, time.time() - int(accepted_ms) / 1000))


class PushCollector(Collector):
    """Clients, frames, cut-offs and Redis state of one push process, read when scraped."""

    def __init__(self, hub: Hub, reader_state: Callable[[], tuple[bool, int]]) -> None:
        self.hub = hub
        self.reader_state = reader_state  # (connected, reconnects) of the stream reader

    def collect(self) -> Iterator[Metric]:
        """Every figure from the hub's counters; nothing is counted on the hot path."""
        stats = self.hub.stats
        connected, reconnects = self.reader_state()
        yield GaugeMetricFamily(
            "livefeed_push_clients", "Connected stream clients.", value=self.hub.clients
        )
        yield CounterMetricFamily(
            "livefeed_push_events", "Events read from Redis and fanned out.", value=stats.events
        )
        yield CounterMetricFamily(
            "livefeed_push_frames_sent", "Event frames written to clients.", value=stats.frames_sent
        )
        yield CounterMetricFamily(
            "livefeed_push_frames_coalesced",
            "Frames a client behind never got because a newer change of the article replaced them.",
            value=stats.coalesced,
        )
        yield GaugeMetricFamily(
            "livefeed_push_clients_behind",
            "Clients whose socket is full, with frames held (coalesced) for them.",
            value=len(self.hub.backlogged),
        )
        yield CounterMetricFamily(
            "livefeed_push_slow_clients_closed",
            "Clients cut off (1008) because they did not read fast enough.",
            value=stats.slow_closed,
        )
        yield CounterMetricFamily(
            "livefeed_push_refused",
            "Connections refused because this process was full.",
            value=stats.refused,
        )
        yield CounterMetricFamily(
            "livefeed_push_redis_reconnects",
            "Times the stream reader got Redis back after losing it.",
            value=reconnects,
        )
        yield GaugeMetricFamily(
            "livefeed_redis_up",
            "1 when this push process's stream reader is connected to Redis.",
            value=1 if connected else 0,
        )


def register_push_metrics(hub: Hub, reader_state: Callable[[], tuple[bool, int]]) -> None:
    """Add the push collector to this process's registry (one push server per process)."""
    REGISTRY.register(PushCollector(hub, reader_state))
