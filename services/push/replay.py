"""The newest events in memory, so that a storm of resuming clients does not hit Redis.

When a push process restarts or a network blip drops every reader, thousands of clients come
back at once, each with ``since`` a few events back. Reading those events once per client
from Redis (three round trips and a parse of the same entries, thousands of times) is what made
a 5,000-client resume take tens of seconds and exhaust the Redis connection pool. The buffer
holds the last ``capacity`` events in stream order with the frames the fan-out made for them
(``protocol.Frames``: framed once per transport and audience, for every resume): a resume that
starts inside it is served from memory, written straight to the transport as live ones are.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque

from services.push.hub import Reader
from services.push.protocol import Frames
from shared.events import EventId

WRITE_CHUNK = 64  # frames joined into one transport write


class ReplayBuffer:
    """A contiguous, ordered suffix of the event stream (the newest ``capacity`` events)."""

    def __init__(self, capacity: int) -> None:
        self.events: deque[Frames] = deque(maxlen=capacity)

    def add(self, frames: Frames) -> None:
        """Append the next event of the stream (events arrive in stream order)."""
        if self.events.maxlen == 0:
            return
        if self.events and frames.event.id <= self.events[-1].event.id:
            # Not the continuation of what we hold (a Redis that lost its data): start afresh,
            # so a range we answer from memory is never missing an event.
            self.events.clear()
        self.events.append(frames)

    def preload(self, events: list[Frames]) -> None:
        """Fill the buffer with the stream's newest events, oldest first (at start-up)."""
        self.events.clear()
        for event in events:
            self.add(event)

    def after(self, since: EventId, upto: EventId) -> list[Frames] | None:
        """Every event with ``since < id <= upto``, or None when the buffer cannot tell.

        None means the buffer does not reach back to ``since`` (its oldest event is newer, so
        older ones may exist only in Redis), does not reach forward to ``upto``, or does not
        hold ``since`` itself (an event a failover took from the log, say: Redis decides
        whether the client must reset).
        """
        events = self.events
        if not events or since < events[0].event.id or upto > events[-1].event.id or since > upto:
            return None
        start = bisect_right(events, since, key=lambda f: f.event.id)
        if events[start - 1].event.id != since:
            return None
        end = bisect_right(events, upto, key=lambda f: f.event.id)
        return [events[i] for i in range(start, end)]


async def write_frames(reader: Reader, frames: list[bytes]) -> None:
    """Write prepared frames in a few large writes, waiting whenever the reader's buffer is full.

    ``drain`` keeps the reader's unsent bytes under the transport's high-water mark (the
    client buffer limit), so a slow reader cannot grow the process's memory.
    """
    for start in range(0, len(frames), WRITE_CHUNK):
        if not reader.open:
            return
        reader.transport.write(b"".join(frames[start : start + WRITE_CHUNK]))
        await reader.drain()
