"""Events in, GRIP items out: each event once per affected channel, to every publish endpoint.

``Publisher.accept`` is the stream consumer's ``deliver``. For each event it finds the channels
it reaches (``Event.filter_keys``: the filters it is shown to now, and those it left, which get
its ``retracted`` with reason ``filter``), gives each the event as that channel's readers see it
with ``id`` and ``prev-id`` (the channel's previous event), and queues the items on every
endpoint. An article's event is published on **every** channel it reaches, whether or not a
reader was seen there: a few per event ((sections+1) * (labels+1) * 2 languages), and a
reader held for days (the proxy never asks the origin again while items keep coming) is never
cut off because its channel was forgotten. Each endpoint has its own task that sends its queue
in order, a batch per request, retried with backoff: an endpoint that is down delays only
itself; an item the endpoint refuses as such (400, 413, 422) is found by halving its batch and
dropped alone (``livefeed_grip_items_rejected_total``).

A **summary** is for readers of any label, which cannot be listed: it goes to the channels in
use, those the origin answered within USE_TTL_S (at most MAX_CHANNELS, the newest). Before a
batch with a summary is given its items, the channels answered in the last RECENT_S are read
again: the origin marks a reader's channel in the same transaction that reads the newest event
it answers with, so a summary newer than that answer reaches the reader's channel. A reader
whose channel dropped out of use (no new reader on it for USE_TTL_S, or evicted by
MAX_CHANNELS newer ones) misses summaries until a reader asks the origin on that channel again
(a reconnect, or the proxy asking after a gap); the summary is also on the page it reloads.

Every channel's last id is kept for every event, and saved with the position in one
transaction (``lf:grip:last``, ``lf:grip:position``): the origin reads both in one too, so the
``prev-id`` it gives a reader is the one the next item on its channel carries. A proxy that sees
any other ``prev-id`` asks the origin again and gets what it missed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
import orjson
import redis.asyncio as aredis
from redis.exceptions import RedisError

from services.grip.metrics import (
    CHANNELS,
    DROPPED,
    LAG,
    POSITION_LAG,
    PUBLISH_FAILURES,
    PUBLISH_SECONDS,
    PUBLISHED,
    QUEUED,
    REJECTED,
)
from shared import grip, keys
from shared.events import SUMMARY, ZERO, Entry, Event, EventId, FilterKey
from shared.frames import sse_frame, updates_body
from shared.stream import latest_id

log = logging.getLogger(__name__)

BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
TIMEOUT_S = 5.0  # one publish request
BATCH_BYTES = 512 * 1024  # one request's items (Pushpin takes up to 1 MB by default)
QUEUE_MAX = 100_000  # items one endpoint may have waiting before the oldest are dropped
USE_TTL_S = 24 * 3600  # a channel no reader asked for in this long gets no summaries
REFRESH_S = 1.0  # how often the channels in use are read again, whole
RECENT_S = 60  # before a batch with a summary, the channels answered this recently
# Answers that refuse a request's items themselves (malformed, too large), not the endpoint
# (401/403/404/405: its URL or key; 408/429 and 5xx: later): halving the batch finds the item,
# which is dropped; any other failure is retried as it is.
REFUSED_ITEMS = frozenset({400, 413, 422})
MAX_CHANNELS = 20_000  # channels kept in use (the newest answered); beyond, the oldest go


@dataclass(frozen=True)
class Queued:
    """One item for one endpoint, already serialized."""

    body: bytes
    event_id: EventId
    seq: int = 0  # its place in its endpoint's queue


class TargetQueue:
    """One publish endpoint's items, in order, and the task that sends them."""

    def __init__(self, target: grip.PublishTarget, http: httpx.AsyncClient) -> None:
        self.target = target
        self.http = http
        self.items: deque[Queued] = deque()
        self.wake = asyncio.Event()
        self.empty = asyncio.Event()  # set while nothing waits: a graceful stop waits for it
        self.empty.set()
        self.acked: EventId | None = None
        self.seq = 0
        self._queued = QUEUED.labels(target.url)
        self._dropped = DROPPED.labels(target.url)
        self._failed = PUBLISH_FAILURES.labels(target.url)
        self._published = PUBLISHED.labels(target.url)
        self._latency = PUBLISH_SECONDS.labels(target.url)
        self._rejected = REJECTED.labels(target.url)
        LAG.labels(target.url).set_function(self._lag)

    def _lag(self) -> float:
        if not self.items:
            return 0.0
        return max(0.0, time.time() - self.items[0].event_id.ms / 1000)

    def add(self, items: list[Queued]) -> None:
        for item in items:
            self.seq += 1
            self.items.append(Queued(item.body, item.event_id, self.seq))
        if items:
            self.empty.clear()
        while len(self.items) > QUEUE_MAX:
            self.items.popleft()
            self._dropped.inc()
        self._queued.set(len(self.items))
        self.wake.set()

    def _batch(self, limit: int | None) -> list[Queued]:
        """The next request's items: up to BATCH_BYTES, and at most ``limit`` items."""
        batch: list[Queued] = []
        size = 0
        for item in self.items:
            if batch and (size + len(item.body) > BATCH_BYTES or len(batch) == limit):
                break
            batch.append(item)
            size += len(item.body) + 1
        return batch

    def _pop_through(self, seq: int) -> list[Queued]:
        """Remove the items up to ``seq`` still waiting (the queue may have dropped its
        oldest meanwhile) and return them."""
        popped: list[Queued] = []
        while self.items and self.items[0].seq <= seq:
            popped.append(self.items.popleft())
        self._queued.set(len(self.items))
        if not self.items:
            self.empty.set()
        return popped

    async def run(self) -> None:
        failures = 0
        # After a batch was refused for its content: the items up to ``suspect`` are sent in
        # batches of at most ``limit`` (halved at each refusal) until the culprit is alone.
        suspect, limit = 0, 0
        while True:
            if not self.items:
                self.wake.clear()
                await self.wake.wait()
            batch = self._batch(limit if self.items[0].seq <= suspect else None)
            body = b'{"items":[' + b",".join(item.body for item in batch) + b"]}"
            try:
                response = await self.http.post(
                    self.target.endpoint,
                    content=body,
                    headers={"Content-Type": "application/json", **self.target.headers()},
                )
                if response.status_code in REFUSED_ITEMS:
                    if len(batch) == 1:
                        self._reject(batch[0], response)
                    else:
                        suspect, limit = batch[-1].seq, len(batch) // 2
                    continue
                if not response.is_success:
                    raise httpx.HTTPStatusError(
                        f"{response.status_code} {response.reason_phrase}",
                        request=response.request,
                        response=response,
                    )
            except httpx.HTTPError as exc:
                self._failed.inc()
                if failures == 0:
                    log.warning("publish to %s failed, retrying: %s", self.target.url, exc)
                await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
                failures += 1
                continue
            if failures:
                log.info("publish to %s works again", self.target.url)
            failures = 0
            popped = self._pop_through(batch[-1].seq)
            self._published.inc(len(popped))
            now = time.time()
            for item in popped:
                self._latency.observe(max(0.0, now - item.event_id.ms / 1000))
            self.acked = batch[-1].event_id

    def _reject(self, item: Queued, response: httpx.Response) -> None:
        """The endpoint refuses this item alone: it is dropped (retrying cannot help)."""
        dropped = self._pop_through(item.seq)
        if dropped:
            self._rejected.inc(len(dropped))
            log.warning(
                "publish to %s refused an item of event %s, dropped: %s %s",
                self.target.url,
                item.event_id,
                response.status_code,
                response.text[:200],
            )


class ChannelsInUse:
    """The channels readers use, as the origin records them (``lf:grip:channels``)."""

    def __init__(self, client: aredis.Redis) -> None:
        self.client = client
        self.keys: dict[FilterKey, str] = {}

    async def refresh(self) -> None:
        """Read the channels answered within USE_TTL_S; forget older ones and the excess."""
        cutoff = int((time.time() - USE_TTL_S) * 1000)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(keys.GRIP_CHANNELS, "-inf", cutoff)
            pipe.zremrangebyrank(keys.GRIP_CHANNELS, 0, -(MAX_CHANNELS + 1))
            pipe.zrange(keys.GRIP_CHANNELS, 0, -1)
            *_, names = await pipe.execute()
        self.keys = self._parse(names)
        CHANNELS.set(len(self.keys))

    async def refresh_recent(self) -> None:
        """Add the channels answered in the last RECENT_S (one short read per batch of events:
        a reader answered just now is published to at once, not after the next refresh)."""
        cutoff = int((time.time() - RECENT_S) * 1000)
        names = await self.client.zrangebyscore(keys.GRIP_CHANNELS, cutoff, "+inf")
        self.keys = {**self.keys, **self._parse(names)}

    @staticmethod
    def _parse(names: Iterable[object]) -> dict[FilterKey, str]:
        found: dict[FilterKey, str] = {}
        for raw in names:
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            key = grip.channel_key(name)
            if key is not None:
                found[key] = name
        return found

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except (RedisError, OSError) as exc:  # the stream consumer reports the outage
                log.debug("channels in use not read: %s", exc)
            await asyncio.sleep(REFRESH_S)


class Publisher:
    """Every endpoint's queue, fed by the process's stream consumer."""

    def __init__(self, client: aredis.Redis, targets: list[grip.PublishTarget]) -> None:
        self.client = client
        self.http = httpx.AsyncClient(timeout=TIMEOUT_S)
        self.queues = [TargetQueue(target, self.http) for target in targets]
        self.channels = ChannelsInUse(client)
        self.last: dict[str, EventId] = {}  # channel -> its last event (the next prev-id)
        self.dirty: dict[str, EventId] = {}  # what ``save`` has not written yet
        self.position: EventId | None = None  # the newest event given its items
        self.saved_position: EventId | None = None
        self.save_wake = asyncio.Event()
        # What the stream consumer delivered, in order, for ``run`` (an EventId: a gap).
        self.inbox: deque[list[Entry] | EventId] = deque()
        self.inbox_wake = asyncio.Event()
        self.pending_ms: int | None = None  # the oldest event in ``inbox`` (its ms)
        POSITION_LAG.set_function(self.position_lag)

    async def start(self) -> EventId:
        """Where the stream consumer starts: the saved position if the log still has what
        follows it, else the newest event (a proxy that missed items recovers them through
        prev-id). The channels' last ids are loaded with it."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.get(keys.GRIP_POSITION)
            pipe.get(keys.EVENTS_HORIZON)
            pipe.hgetall(keys.GRIP_LAST_IDS)
            saved, horizon, last = await pipe.execute()
        newest = await latest_id(self.client)
        await self.channels.refresh()
        self.last = {
            (k.decode() if isinstance(k, bytes) else str(k)): EventId.parse(v)
            for k, v in (last or {}).items()
        }
        position = newest
        if isinstance(saved, bytes):
            at = EventId.parse(saved)
            trimmed = EventId.parse(horizon) if isinstance(horizon, bytes) else None
            if (trimmed is None or at > trimmed) and at <= newest:
                position = self.saved_position = at
            else:
                log.warning("grip-publisher missed events (gone from the log); from %s", newest)
        self.position = position
        self.save_wake.set()  # a first run: the origin learns the position at once
        for queue in self.queues:
            queue.acked = position
        return position

    def gap(self, newest: EventId) -> None:
        """The consumer resumes at ``newest`` after events it never saw (or lost in a
        failover): their items are never published; held streams recover through prev-id."""
        self.inbox.append(newest)
        self.inbox_wake.set()

    def accept(self, entries: list[Entry]) -> None:
        """The stream consumer's ``deliver``: the entries wait for ``run`` (for a summary it
        reads the channels in use first)."""
        if entries:
            if self.pending_ms is None:
                self.pending_ms = EventId.parse(entries[0][0]).ms
            self.inbox.append(entries)
            self.inbox_wake.set()

    async def run(self) -> None:
        """Give what the consumer delivered its items, in order."""
        while True:
            if not self.inbox:
                self.inbox_wake.clear()
                await self.inbox_wake.wait()
            await self.flush()

    async def flush(self) -> None:
        """Queue the items of everything delivered so far (with a summary among it, the
        channels in use read first)."""
        if any(_has_summary(delivered) for delivered in self.inbox):
            try:
                await self.channels.refresh_recent()
            except (RedisError, OSError) as exc:  # the set read last: it recovers (prev-id)
                log.debug("channels in use not read: %s", exc)
        while self.inbox:
            delivered = self.inbox.popleft()
            if isinstance(delivered, EventId):
                self.position = delivered
                self.save_wake.set()
            else:
                self._accept(delivered)
        self.pending_ms = None

    def _accept(self, entries: list[Entry]) -> None:
        """Each event's items, queued for every endpoint."""
        items: list[Queued] = []
        for raw_id, fields in entries:
            try:
                event = Event.from_entry(raw_id, fields)
            except ValueError as exc:
                log.warning("event %r skipped: %s", raw_id, exc)
                continue
            items += self._items(event)
            self.position = event.id
        if items:
            for queue in self.queues:
                queue.add(items)
        self.save_wake.set()

    def _items(self, event: Event) -> list[Queued]:
        """The event's item on every channel it reaches (a summary: on those in use)."""
        now, left = event.filter_keys(self.channels.keys if event.kind == SUMMARY else ())
        out: list[Queued] = []
        for key in sorted(now | left, key=str):
            name = grip.channel_name(key)
            prev = self.last.get(name, ZERO)
            self.last[name] = self.dirty[name] = event.id
            seen = event if key in now else event.left()
            item = grip.publish_item(
                name,
                event.id,
                prev,
                sse=sse_frame(seen),
                ws=seen.text,
                long_poll=updates_body(event.id, [seen.text]),
            )
            out.append(Queued(orjson.dumps(item), event.id))
        return out

    async def save(self) -> None:
        """Write the channels' last ids and the position as they move, through outages."""
        while True:
            await self.save_wake.wait()
            self.save_wake.clear()
            try:
                await self.write()
            except (RedisError, OSError) as exc:
                log.debug("grip position not saved: %s", exc)
                self.save_wake.set()
                await asyncio.sleep(0.5)

    async def write(self) -> None:
        """Write the channels' last ids not written yet and the position, in one transaction
        (what could not be written is kept for the next write)."""
        position, dirty = self.position, self.dirty
        if position is None or (position == self.saved_position and not dirty):
            return
        self.dirty = {}
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                if dirty:
                    pipe.hset(keys.GRIP_LAST_IDS, mapping={k: str(v) for k, v in dirty.items()})
                pipe.set(keys.GRIP_POSITION, str(position))
                await pipe.execute()
        except BaseException:  # an outage, a cancellation: written next time
            self.dirty = {**dirty, **self.dirty}
            raise
        self.saved_position = position

    def position_lag(self) -> float:
        """Age of the oldest event the stream consumer delivered that has no items yet (0: every
        event read from the log has its items)."""
        pending = self.pending_ms
        return 0.0 if pending is None else max(0.0, time.time() - pending / 1000)

    async def aclose(self) -> None:
        await self.http.aclose()


def _has_summary(delivered: list[Entry] | EventId) -> bool:
    """Whether a delivered batch holds a summary (its items need the channels in use)."""
    return not isinstance(delivered, EventId) and any(
        fields.get(b"type") == SUMMARY for _, fields in delivered
    )
