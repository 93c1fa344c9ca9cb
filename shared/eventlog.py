"""Reading the event log back for a subscriber that resumes: shared by push and SSE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import redis.asyncio as aredis

from shared import keys
from shared.events import ZERO, Entry, Event, EventId, newest_id, stream_entries

REPLAY_CHUNK = 500


async def must_reset(client: aredis.Redis, since: EventId, hello_id: EventId) -> bool:
    """Whether ``since`` cannot be resumed from, so the client must reload the timeline.

    True when it is at or before the newest event trimmed off the log (what followed it may
    be gone), newer than any event the log ever had (not an id of this stream), or no longer
    in the log although older events are (``_gone``: a failover lost it).
    """
    horizon_raw, newest_raw, at_or_before = await asyncio.gather(
        client.get(keys.EVENTS_HORIZON),
        client.xrevrange(keys.EVENTS, "+", "-", count=1),
        client.xrevrange(keys.EVENTS, str(since), "-", count=1),
    )
    horizon = EventId.parse(horizon_raw) if isinstance(horizon_raw, bytes) else None
    too_old = horizon is not None and since <= horizon
    return too_old or since > max(newest_id(newest_raw), hello_id) or _gone(since, at_or_before)


def _gone(event_id: EventId, at_or_before: Any) -> bool:
    """Whether ``event_id`` is missing from a log that holds older events (``at_or_before``:
    ``XREVRANGE lf:events <event_id> - COUNT 1``). Trimming removes the oldest events, never
    one with older ones kept, so this means the log was rewound: a failover promoted a replica
    that had not received the newest events."""
    if event_id == ZERO:
        return False
    entries = stream_entries(at_or_before)
    return bool(entries) and EventId.parse(entries[0][0]) != event_id


async def read_after(
    client: aredis.Redis, last_id: EventId, block_ms: int, count: int
) -> tuple[list[Entry], bool, bool]:
    """The next events after ``last_id`` (waiting up to ``block_ms``), whether some were lost,
    and whether the log went back.

    Lost means trimmed off the log before this reader got them: a reader that was away (Redis
    unreachable, the process stalled) while more than ``LIVEFEED_STREAM_MAXLEN`` events were
    written. Its clients must then resume (and be told to reset) instead of silently skipping.
    Went back means ``last_id`` is gone from a log that keeps older events (``_gone``: a
    failover lost it). Both are read in one round trip right after the XREAD, so they are never
    older than what the XREAD saw; at worst a reader a whole log behind resets when it need not
    have. (Not in the XREAD's pipeline: a cancelled pipeline with a blocking command does not
    end until its block does.)
    """
    response = await client.xread({keys.EVENTS: str(last_id)}, block=block_ms, count=count)
    async with client.pipeline(transaction=False) as pipe:
        pipe.get(keys.EVENTS_HORIZON)
        pipe.xrevrange(keys.EVENTS, str(last_id), "-", count=1)
        horizon, at_or_before = await pipe.execute()
    entries: list[Entry] = []
    for _stream, chunk in cast(list[tuple[bytes, list[Entry]]], response or []):
        entries.extend(chunk)
    lost = isinstance(horizon, bytes) and EventId.parse(horizon) > last_id
    return entries, lost, _gone(last_id, at_or_before)


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


async def stop_reader(task: asyncio.Task[None]) -> None:
    """Cancel a stream reader task and wait until it has ended.

    redis-py (8.x) swallows a cancellation that arrives while a command is being sent and
    retries the command, so one ``cancel()`` can leave a reader blocked in XREAD for good:
    cancel again until it ends.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
