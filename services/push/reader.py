"""The one Redis Stream reader of a push process: XREAD BLOCK, then fan out to the hub."""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aredis
from redis.exceptions import RedisError

from services.push.hub import Hub
from services.push.metrics import observe_freshness
from services.push.replay import ReplayBuffer
from shared import keys
from shared.eventlog import read_after
from shared.events import Event, EventId, newest_id, stream_entries

log = logging.getLogger(__name__)

BLOCK_MS = 5_000
BATCH = 1_000
BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
GAP_CLOSE_CODE = 1012  # service restart: reconnect (with since)
GAP_CLOSE_REASON = "stream gap: reconnect with since"


class StreamReader:
    """Reads events in order from where it stopped, through Redis outages, forever."""

    def __init__(self, client: aredis.Redis, hub: Hub, replay: ReplayBuffer | None = None) -> None:
        self.client = client
        self.hub = hub
        self.replay = replay
        self.connected = False
        self.reconnects = 0
        self.ready = asyncio.Event()

    async def latest_id(self) -> EventId:
        """The newest event id in the stream (0-0 when there is none)."""
        return newest_id(await self.client.xrevrange(keys.EVENTS, "+", "-", count=1))

    async def _start_id(self) -> EventId:
        """The newest event id; also loads the newest events into the replay buffer."""
        if self.replay is None or not self.replay.events.maxlen:
            return await self.latest_id()
        raw = await self.client.xrevrange(keys.EVENTS, "+", "-", count=self.replay.events.maxlen)
        events = []
        for raw_id, fields in reversed(stream_entries(raw)):
            try:
                events.append(Event.from_entry(raw_id, fields))
            except ValueError:
                events.clear()  # a gap: keep only what follows it, so the buffer stays contiguous
        self.replay.preload(events)
        return newest_id(raw)

    async def run(self) -> None:
        """Start from the newest event, then deliver every later one, retrying with backoff."""
        failures = 0
        while True:
            try:
                if self.hub.last_id is None:
                    self.hub.last_id = await self._start_id()
                    self.ready.set()
                entries, lost = await read_after(self.client, self.hub.last_id, BLOCK_MS, BATCH)
                if lost:
                    self._skip_gap(await self._start_id())
                    continue
            except (RedisError, OSError) as exc:
                if self.connected or failures == 0:
                    log.warning("stream reader lost Redis, retrying: %s", exc)
                self.connected = False
                delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
                failures += 1
                await asyncio.sleep(delay)
                continue
            if not self.connected:
                if failures:
                    self.reconnects += 1
                    log.info("stream reader reconnected", extra={"after": str(self.hub.last_id)})
                self.connected = True
                failures = 0
            for raw_id, fields in entries:
                self._deliver(raw_id, fields)

    def _skip_gap(self, newest: EventId) -> None:
        """Events were trimmed before this reader got them: every client must resume.

        Clients are closed with 1012 and come back with ``since``, which the log can no longer
        serve: they get ``reset`` and reload the timeline. The reader goes on from ``newest``
        (read just before, with the replay buffer reloaded from there: it never spans the gap),
        so a client connecting meanwhile is served as at start-up.
        """
        log.warning("events were trimmed before the reader got them; clients must reset")
        self.hub.last_id = newest
        self.hub.close_all(GAP_CLOSE_CODE, GAP_CLOSE_REASON)

    def _deliver(self, raw_id: bytes, fields: dict[bytes, bytes]) -> None:
        try:
            event = Event.from_entry(raw_id, fields)
        except ValueError as exc:
            # Never stall the stream on one bad entry: skip it, loudly.
            log.error("skipping unreadable event %r: %s", raw_id, exc)
            self.hub.last_id = EventId.parse(raw_id)
            return
        self.hub.publish(event)
        if self.replay is not None:
            self.replay.add(event)
        observe_freshness(fields.get(b"at"))  # once per event, after every write
