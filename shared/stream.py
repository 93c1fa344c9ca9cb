"""The one loop that consumes the event log (lf:events): every stream reader of livefeed is one.

A push process fans events out to readers, a feed process drops cached pages, the purger
purges edge caches, the notifier sends alerts: each owns one ``StreamConsumer`` and gives it
a ``deliver`` callback. The consumer keeps what they all need and must not differ in:

- order: entries are delivered in stream order, each exactly once per process life;
- outages: ``XREAD BLOCK`` retried with backoff while Redis is unreachable, resuming after
  the last entry delivered (``connected``/``reconnects`` for /readyz and metrics);
- gaps: entries trimmed off the log before this consumer read them are detected (the log's
  horizon passed the position) and reported to ``on_gap`` instead of being silently skipped;
- rewinds: after a failover the new primary (a replica that lagged) may lack the newest
  entries this consumer already delivered, and its next ids may repeat them or fall below
  them. After every read the consumer checks that the last entry it delivered is still in the
  log (``eventlog.read_after``: older entries are, that one is not); if not, the log went back
  and that is reported as a gap too. A push process closes its readers (1012); their resume
  ``since`` is no longer in the log, so ``eventlog.must_reset`` answers ``reset``. The check is
  one ``XREVRANGE … COUNT 1`` per read (pipelined with the horizon's GET), not per entry, and
  needs no knowledge of failovers (redis-py may reconnect to the new primary inside one
  command, unseen).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aredis
from redis.exceptions import RedisError

from shared import keys
from shared.eventlog import read_after
from shared.events import Entry, EventId, newest_id

log = logging.getLogger(__name__)

BLOCK_MS = 5_000  # the longest XREAD BLOCK: clients for a consumer need this much read timeout
BATCH = 1_000
BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

Deliver = Callable[[list[Entry]], None]
Start = Callable[[], Awaitable[EventId]]
OnGap = Callable[[EventId], None]


async def latest_id(client: aredis.Redis) -> EventId:
    """The newest event id in the stream (0-0 when there is none)."""
    return newest_id(await client.xrevrange(keys.EVENTS, "+", "-", count=1))


class StreamConsumer:
    """Reads events in order from where it stopped, through Redis outages, forever."""

    def __init__(
        self,
        client: aredis.Redis,
        name: str,
        deliver: Deliver,
        *,
        start: Start | None = None,
        on_gap: OnGap | None = None,
        block_ms: int = BLOCK_MS,
        batch: int = BATCH,
    ) -> None:
        """``start`` picks the first position (default: the newest event, so only later
        events are delivered); it is called again after a gap, and ``on_gap`` is told the
        position the consumer resumes from."""
        self.client = client
        self.name = name
        self.deliver = deliver
        self._start = start or (lambda: latest_id(client))
        self.on_gap = on_gap
        self.block_ms = block_ms
        self.batch = batch
        self.last_id: EventId | None = None  # the newest entry delivered (None: not started)
        self.connected = False
        self.reconnects = 0
        self.gaps = 0
        self.rewinds = 0
        self.ready = asyncio.Event()  # set once the start position is known

    async def run(self) -> None:
        """Start, then deliver every later entry, retrying with backoff; runs until cancelled."""
        failures = 0
        while True:
            try:
                if self.last_id is None:
                    self.last_id = await self._start()
                    self.ready.set()
                    failures = self._up(failures)
                entries, lost, rewound = await read_after(
                    self.client, self.last_id, self.block_ms, self.batch
                )
                failures = self._up(failures)
                if lost:
                    await self._skip_gap()
                    continue
                if rewound:
                    await self._rewind()
                    continue
            except (RedisError, OSError) as exc:
                if self.connected or failures == 0:
                    log.warning("%s lost Redis, retrying: %s", self.name, exc)
                self.connected = False
                delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
                failures += 1
                await asyncio.sleep(delay)
                continue
            if entries:
                self.deliver(entries)
                self.last_id = EventId.parse(entries[-1][0])

    def _up(self, failures: int) -> int:
        """Redis answered: mark the consumer connected (counting a reconnect after failures)."""
        if not self.connected:
            if failures:
                self.reconnects += 1
                log.info("%s reconnected", self.name, extra={"after": str(self.last_id)})
            self.connected = True
        return 0

    async def _rewind(self) -> None:
        """The last entry delivered is gone from a log that keeps older ones (a failover lost
        it): the gap is reported and the position reset."""
        log.warning(
            "%s: event %s is gone from the log (a Redis failover?)", self.name, self.last_id
        )
        self.rewinds += 1
        await self._skip_gap()

    async def _skip_gap(self) -> None:
        newest = await self._start()
        log.warning("%s: events missed or gone; resuming at %s", self.name, newest)
        self.gaps += 1
        self.last_id = newest
        if self.on_gap is not None:
            self.on_gap(newest)


def consumer_readyz(consumer: StreamConsumer) -> Callable[[], tuple[int, dict[str, Any]]]:
    """``/readyz`` of a process whose work is following the log (the purger, the notifier, the
    grip-publisher): ready while its consumer reaches Redis."""

    def readyz() -> tuple[int, dict[str, Any]]:
        if consumer.connected:
            return 200, {"status": "ready", "redis": "ok"}
        return 503, {"status": "unavailable", "redis": "unreachable"}

    return readyz
