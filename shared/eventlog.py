"""Reading the event log back for a subscriber that resumes: shared by push and SSE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import redis.asyncio as aredis

from shared import keys
from shared.events import Event, EventId, newest_id, stream_entries

REPLAY_CHUNK = 500


async def must_reset(client: aredis.Redis, since: EventId, hello_id: EventId) -> bool:
    """Whether ``since`` cannot be resumed from, so the client must reload the timeline.

    True when it is at or before the newest event trimmed off the log (what followed it may
    be gone), or newer than any event the log ever had (not an id of this stream).
    """
    horizon_raw, newest_raw = await asyncio.gather(
        client.get(keys.EVENTS_HORIZON),
        client.xrevrange(keys.EVENTS, "+", "-", count=1),
    )
    horizon = EventId.parse(horizon_raw) if isinstance(horizon_raw, bytes) else None
    too_old = horizon is not None and since <= horizon
    return too_old or since > max(newest_id(newest_raw), hello_id)


async def events_between(
    client: aredis.Redis, since: EventId, upto: EventId
) -> AsyncIterator[list[Event]]:
    """Every event with ``since < id <= upto``, in order, a chunk at a time."""
    start = f"({since}"
    while since < upto:
        entries = stream_entries(
            await client.xrange(keys.EVENTS, start, str(upto), count=REPLAY_CHUNK)
        )
        if not entries:
            return
        yield [Event.from_entry(raw_id, fields) for raw_id, fields in entries]
        if len(entries) < REPLAY_CHUNK:
            return
        start = f"({entries[-1][0].decode()}"
