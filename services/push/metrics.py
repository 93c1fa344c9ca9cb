"""The push service's metrics.

The hot path stays cheap: the hub keeps plain integer counters (``HubStats``) that are read
only when Prometheus scrapes, and the one histogram, freshness, is observed once per event,
never per client.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from services.push.floods import SHED_REASONS
from services.push.hub import TRANSPORTS, Hub
from shared.metrics import LATENCY_BUCKETS, observe_stage

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


def observe_wake(read_at: float, appended: bytes | None) -> None:
    """Record the stream's wake-up: the event's append (its ``ts``) to ``read_at``."""
    if appended:
        try:
            observe_stage("wake", read_at - float(appended))
        except ValueError:
            return  # not a time: an entry written by something else; nothing to time


class PushCollector(Collector):
    """Clients, frames, cut-offs and Redis state of one push process, read when scraped."""

    def __init__(
        self,
        hub: Hub,
        reader_state: Callable[[], tuple[bool, int]],
        handshaking: Callable[[], int],
    ) -> None:
        self.hub = hub
        self.reader_state = reader_state  # (connected, reconnects) of the stream reader
        self.handshaking = handshaking  # connections whose request has not arrived yet

    def collect(self) -> Iterator[Metric]:
        """Every figure from the hub's counters; nothing is counted on the hot path.

        Per-reader figures carry a ``transport`` label (``ws`` or ``sse``): both transports are
        served by the same hub under the same slow-reader policy.
        """
        stats = self.hub.stats
        connected, reconnects = self.reader_state()
        yield _by_transport(
            GaugeMetricFamily, "livefeed_push_clients", "Connected stream readers.",
            self.hub.clients_by_transport(),
        )  # fmt: skip
        yield CounterMetricFamily(
            "livefeed_push_events", "Events read from Redis and fanned out.", value=stats.events
        )
        yield _by_transport(
            CounterMetricFamily, "livefeed_push_frames_sent", "Event frames written to readers.",
            stats.frames_sent,
        )  # fmt: skip
        yield _by_transport(
            CounterMetricFamily,
            "livefeed_push_frames_coalesced",
            "Frames a reader behind never got because a newer change of the article replaced them.",
            stats.coalesced,
        )
        yield _by_transport(
            GaugeMetricFamily,
            "livefeed_push_clients_behind",
            "Readers whose socket is full, with frames held (coalesced) for them.",
            self.hub.behind_by_transport(),
        )
        yield _by_transport(
            CounterMetricFamily,
            "livefeed_push_slow_clients_closed",
            "Readers cut off (WebSocket 1008, SSE aborted) because they did not read fast enough.",
            stats.slow_closed,
        )
        yield _by_transport(
            CounterMetricFamily,
            "livefeed_push_refused",
            "Connections refused because this process (or one address) was full.",
            stats.refused,
        )
        shed = CounterMetricFamily(
            "livefeed_push_shed",
            "Connections closed as they were accepted (or, the oldest handshakes, to make room): "
            "too many from one address, too many handshakes, or no descriptors to spare.",
            labels=["reason"],
        )
        for reason in SHED_REASONS:
            shed.add_metric([reason], stats.shed.get(reason, 0))
        yield shed
        yield GaugeMetricFamily(
            "livefeed_push_handshaking",
            "Connections whose request has not arrived yet.",
            value=self.handshaking(),
        )
        yield CounterMetricFamily(
            "livefeed_push_redis_reconnects",
            "Times the stream reader got Redis back after losing it.",
            value=reconnects,
        )
        yield _tasks()
        yield GaugeMetricFamily(
            "livefeed_redis_up",
            "1 when this push process's stream reader is connected to Redis.",
            value=1 if connected else 0,
        )


def _tasks() -> Metric:
    """The asyncio tasks of this process by name: one ``stream-reader`` whatever the number of
    readers, the held-frame ``flusher`` while some reader is behind, short ``catch-up`` tasks
    while readers resume; a connection has no task of its own (push/connection.py)."""
    metric = GaugeMetricFamily(
        "livefeed_push_tasks", "asyncio tasks in this push process, by name.", labels=["name"]
    )
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # scraped outside the event loop (a test's collector): nothing to say
        return metric
    names = Counter(task.get_name() for task in tasks)
    other = sum(count for name, count in names.items() if name.startswith("Task-"))
    for name, count in sorted(names.items()):
        if not name.startswith("Task-"):
            metric.add_metric([name], count)
    metric.add_metric(["other"], other)
    return metric


def _by_transport(
    family: type[GaugeMetricFamily] | type[CounterMetricFamily],
    name: str,
    documentation: str,
    counts: Mapping[str, int],
) -> Metric:
    metric = family(name, documentation, labels=["transport"])
    for transport in TRANSPORTS:
        metric.add_metric([transport], counts.get(transport, 0))
    return metric


_collector: PushCollector | None = None


def register_push_metrics(
    hub: Hub, reader_state: Callable[[], tuple[bool, int]], handshaking: Callable[[], int]
) -> None:
    """Report this hub in this process's registry (the newest push server, if there are more,
    as when tests run several in one process)."""
    global _collector
    if _collector is None:
        _collector = PushCollector(hub, reader_state, handshaking)
        REGISTRY.register(_collector)
    else:
        _collector.hub, _collector.reader_state = hub, reader_state
        _collector.handshaking = handshaking
