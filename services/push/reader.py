"""What a push process does with the event log: fan each event out to the hub.

The reading itself (XREAD, outages, gaps) is ``shared.stream.StreamConsumer``; this module
decides where a push process starts (the newest event, with the replay buffer preloaded) and
what it does with each entry and with a gap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis.asyncio as aredis

from services.push.hub import Hub
from services.push.metrics import observe_freshness, observe_wake
from services.push.protocol import Frames
from services.push.replay import ReplayBuffer
from shared import keys
from shared.events import PUBLISHED, Entry, Event, EventId, newest_id, stream_entries
from shared.metrics import observe_stage
from shared.stream import StreamConsumer, latest_id

log = logging.getLogger(__name__)

GAP_CLOSE_CODE = 1012  # service restart: reconnect (with since)
GAP_CLOSE_REASON = "stream gap: reconnect with since"


class PushFeed:
    """The hub's side of the process's one stream consumer."""

    def __init__(
        self,
        client: aredis.Redis,
        hub: Hub,
        replay: ReplayBuffer | None = None,
        published: Callable[[bytes], None] | None = None,
    ) -> None:
        self.client = client
        self.hub = hub
        self.replay = replay
        self.published = published  # told each article published (its id), after the fan-out
        self.consumer = StreamConsumer(
            client, "push stream reader", self.deliver, start=self.start, on_gap=self.gap
        )

    async def start(self) -> EventId:
        """The newest event id; also loads the newest events into the replay buffer."""
        if self.replay is None or not self.replay.events.maxlen:
            newest = await latest_id(self.client)
        else:
            count = self.replay.events.maxlen
            raw = await self.client.xrevrange(keys.EVENTS, "+", "-", count=count)
            events = []
            for raw_id, fields in reversed(stream_entries(raw)):
                try:
                    events.append(Event.from_entry(raw_id, fields))
                except ValueError:
                    events.clear()  # a gap: keep only what follows it, so it stays contiguous
            self.replay.preload([Frames(event) for event in events])
            newest = newest_id(raw)
        self.hub.last_id = newest
        return newest

    def gap(self, newest: EventId) -> None:
        """Events were trimmed before the consumer got them: every client must resume.

        Clients are closed with 1012 and come back with ``since``, which the log can no longer
        serve: they get ``reset`` and reload the timeline. The consumer goes on from ``newest``
        (with the replay buffer reloaded from there: it never spans the gap), so a client
        connecting meanwhile is served as at start-up.
        """
        self.hub.close_all(GAP_CLOSE_CODE, GAP_CLOSE_REASON)

    def deliver(self, entries: list[Entry]) -> None:
        read_at = time.time()
        for raw_id, fields in entries:
            try:
                event = Event.from_entry(raw_id, fields)
            except ValueError as exc:
                # Never stall the stream on one bad entry: skip it, loudly.
                log.error("skipping unreadable event %r: %s", raw_id, exc)
                self.hub.last_id = EventId.parse(raw_id)
                continue
            started = time.perf_counter()
            frames = self.hub.publish(event)
            observe_stage("fanout", time.perf_counter() - started)
            observe_wake(read_at, fields.get(b"ts"))
            if self.replay is not None:
                self.replay.add(frames)
            observe_freshness(fields.get(b"at"))  # once per event, after every write
            if event.kind == PUBLISHED and self.published is not None:
                self.published(event.article)  # the readers now, kept with it (audience.py)
