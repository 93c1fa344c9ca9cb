"""Fan-out: every event is written to every matching client in one synchronous pass.

Clients are grouped by their filter, so an event touches only the groups it matches. Each
frame is serialized once and written straight to each client's transport. A client that stops
reading is handled in two steps, so it can never slow the others or grow the server's memory:

1. Once its unsent bytes pass half the limit, it leaves its group and new frames are *held*
   for it, coalesced: a newer change of an article replaces the held one (a reader behind on a
   story being edited gets its latest version, not every draft). A flusher writes the held
   frames, in event order, as the socket drains, and the client rejoins its group.
2. Only when unsent plus held bytes pass the limit is it cut off (1008) and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from shared.events import PUBLISHED, RETRACTED, UPDATED, Event, EventId, FilterKey

log = logging.getLogger(__name__)

SLOW_CLOSE_CODE = 1008
SLOW_CLOSE_REASON = "too slow: reconnect with since"
FLUSH_INTERVAL_S = 0.02  # how often held frames are retried while any client has some


@dataclass(eq=False)
class Subscriber:
    """One connected client while it catches up (replay) before joining the live groups."""

    conn: ServerConnection
    section: str | None
    label: str | None
    floor: EventId  # the client has seen everything up to here: nothing at or below is sent
    pending: list[Event] = field(default_factory=list)
    pending_bytes: int = 0

    @property
    def key(self) -> FilterKey:
        """The live group this client joins."""
        return (self.section, self.label)


@dataclass(eq=False)
class Backlog:
    """Frames held back from a client whose socket is full: the newest change per article."""

    conn: ServerConnection
    key: FilterKey
    held: dict[EventId, Event] = field(default_factory=dict)  # in event order
    latest: dict[bytes, EventId] = field(default_factory=dict)  # article -> its held event
    size: int = 0

    def hold(self, event: Event) -> bool:
        """Keep ``event`` for later; True when it was merged into a held change of its article.

        A merge happens in place: the held frame keeps its position and event id and takes the
        newest headline. Ids the client sees still only go up, and a client cut off after it
        resumes from that id, so the newer change is replayed (harmless) rather than skipped.
        """
        previous_id = self.latest.get(event.article)
        if previous_id is not None:
            held = self.held[previous_id]
            kind = _merged_kind(held.kind, event.kind)
            if kind is not None:
                self.size -= len(held.wire)
                if kind == DROP:
                    del self.held[previous_id], self.latest[event.article]
                    return True
                merged = event.restamp(kind, held.id)
                self.held[previous_id] = merged
                self.size += len(merged.wire)
                return True
        self.held[event.id] = event
        self.latest[event.article] = event.id
        self.size += len(event.wire)
        return False

    def take(self) -> Event:
        """Remove and return the oldest held frame."""
        event = self.held.pop(next(iter(self.held)))
        if self.latest.get(event.article) == event.id:
            del self.latest[event.article]
        self.size -= len(event.wire)
        return event


DROP = b""  # the merge of a publication the client never saw and its retraction: nothing


def _merged_kind(held: bytes, newer: bytes) -> bytes | None:
    """What one frame standing for both changes announces, or None when both must go out.

    An update or retraction makes an unsent publication or update of the same article moot;
    a publication the client has not seen stays a publication (with the newest headline), and
    one retracted before the client saw it needs no frame at all. A re-publication after a
    retraction is not merged: the client must see both.
    """
    if held not in (PUBLISHED, UPDATED) or newer not in (UPDATED, RETRACTED):
        return None
    if held == PUBLISHED:
        return PUBLISHED if newer == UPDATED else DROP
    return newer


@dataclass
class HubStats:
    """Counters exposed on /healthz and /metrics."""

    events: int = 0
    frames_sent: int = 0
    coalesced: int = 0
    slow_closed: int = 0
    refused: int = 0


class Hub:
    """The connected clients of one push process, and the single place events fan out from."""

    def __init__(self, buffer_limit: int) -> None:
        self.buffer_limit = buffer_limit
        self.hold_mark = buffer_limit // 2  # unsent bytes above which frames are held
        self.groups: dict[FilterKey, set[ServerConnection]] = {}
        self.catching_up: set[Subscriber] = set()
        self.backlogged: dict[ServerConnection, Backlog] = {}
        self.last_id: EventId | None = None  # the newest event fanned out (None: not started)
        self.stats = HubStats()
        self._flusher: asyncio.Task[None] | None = None
        self._waiters: list[tuple[EventId, asyncio.Future[None]]] = []
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def clients(self) -> int:
        """How many clients are connected (live, behind, or catching up)."""
        live = sum(len(group) for group in self.groups.values())
        return live + len(self.backlogged) + len(self.catching_up)

    def publish(self, event: Event) -> None:
        """Fan ``event`` out to every matching live client and queue it for the others."""
        slow: list[ServerConnection] = []
        full: list[tuple[ServerConnection, FilterKey]] = []
        for backlog in self.backlogged.values():
            seen = event.for_filter(*backlog.key)
            if seen is not None:
                self._hold(backlog, seen, slow)
        now, left = event.filter_keys()
        for key in now:
            group = self.groups.get(key)
            if group:
                self._write_all(group, key, event.wire, full)
        if left:
            # The article left these filters: their subscribers are told to remove it.
            gone = event.left()
            for key in left:
                group = self.groups.get(key)
                if group:
                    self._write_all(group, key, gone.wire, full)
        for conn, key in full:
            self._leave_group(conn, key)
            backlog = self.backlogged[conn] = Backlog(conn, key)
            seen = event.for_filter(*key)
            assert seen is not None  # it was written to that key's group
            self._hold(backlog, seen, slow)
        if full:
            self._start_flusher()
        for sub in self.catching_up:
            seen = event.for_filter(sub.section, sub.label) if event.id > sub.floor else None
            if seen is not None:
                sub.pending.append(seen)
                sub.pending_bytes += len(seen.wire)
                if sub.pending_bytes > self.buffer_limit:
                    slow.append(sub.conn)
        self.last_id = event.id
        self.stats.events += 1
        if self._waiters:
            self._wake_waiters()
        for conn in slow:
            self.cut_off(conn)

    async def reached(self, floor: EventId) -> None:
        """Return once the stream reader has fanned out ``floor`` (or anything after it).

        A client resuming from an id the reader has not reached yet (taken from the timeline a
        moment ahead of it, or after a Redis blip) waits here before it goes live, so that the
        events up to its ``since`` are never sent to it.
        """
        if self.last_id is not None and self.last_id >= floor:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((floor, waiter))
        try:
            await waiter
        finally:
            if not waiter.done():
                waiter.cancel()
            self._waiters = [(f, w) for f, w in self._waiters if w is not waiter]

    def _wake_waiters(self) -> None:
        last = self.last_id
        assert last is not None
        for floor, waiter in self._waiters:
            if floor <= last and not waiter.done():
                waiter.set_result(None)

    def _write_all(
        self,
        group: set[ServerConnection],
        key: FilterKey,
        wire: bytes,
        full: list[tuple[ServerConnection, FilterKey]],
    ) -> None:
        mark = self.hold_mark
        sent = 0
        for conn in group:
            if conn.protocol.state is not State.OPEN:
                continue
            transport = conn.transport
            if transport.get_write_buffer_size() > mark:
                full.append((conn, key))
                continue
            transport.write(wire)
            sent += 1
        self.stats.frames_sent += sent

    def _hold(self, backlog: Backlog, event: Event, slow: list[ServerConnection]) -> None:
        if backlog.hold(event):
            self.stats.coalesced += 1
        if backlog.conn.transport.get_write_buffer_size() + backlog.size > self.buffer_limit:
            slow.append(backlog.conn)

    def _leave_group(self, conn: ServerConnection, key: FilterKey) -> None:
        group = self.groups.get(key)
        if group is not None:
            group.discard(conn)
            if not group:
                del self.groups[key]

    def flush(self) -> None:
        """Write held frames to every client whose socket has drained; rejoin the caught-up."""
        mark = self.hold_mark
        for conn, backlog in list(self.backlogged.items()):
            if conn.protocol.state is not State.OPEN:
                del self.backlogged[conn]
                continue
            transport = conn.transport
            while backlog.held and transport.get_write_buffer_size() <= mark:
                transport.write(backlog.take().wire)
                self.stats.frames_sent += 1
            if not backlog.held:
                del self.backlogged[conn]
                self.join_live(conn, backlog.key)

    def _start_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_while_held())

    async def _flush_while_held(self) -> None:
        # Polling only while some client is behind: asyncio has no per-transport "drained"
        # callback short of subclassing the connection, and 20 ms is far below a human's notice.
        while self.backlogged:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            try:
                self.flush()
            except Exception:  # a bug here must not strand every client behind: say so, go on
                log.exception("writing held frames failed")

    async def close(self) -> None:
        """Stop the flusher (at shutdown, once the clients are closed)."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher

    def join_live(self, conn: ServerConnection, key: FilterKey) -> None:
        """Add a client that is up to date to its live group."""
        self.groups.setdefault(key, set()).add(conn)

    def start_catch_up(self, sub: Subscriber) -> None:
        """From now on, events for ``sub`` are kept in its pending list until it is live."""
        self.catching_up.add(sub)

    def finish_catch_up(self, sub: Subscriber) -> None:
        """Move ``sub`` to its live group. Call only when its pending list is empty.

        A client whose replay still fills its socket past the hold mark starts behind (its
        frames held), rather than being cut off by the first live event that finds no room.
        """
        self.catching_up.discard(sub)
        if sub.conn.transport.get_write_buffer_size() > self.hold_mark:
            self.backlogged[sub.conn] = Backlog(sub.conn, sub.key)
            self._start_flusher()
        else:
            self.join_live(sub.conn, sub.key)

    def remove(self, conn: ServerConnection, key: FilterKey, sub: Subscriber | None) -> None:
        """Forget a client that has gone."""
        self._leave_group(conn, key)
        self.backlogged.pop(conn, None)
        if sub is not None:
            self.catching_up.discard(sub)

    def close_all(self, code: int, reason: str) -> None:
        """Close every client (they reconnect with ``since``) and forget them."""
        conns = {c for group in self.groups.values() for c in group}
        conns.update(self.backlogged)
        conns.update(sub.conn for sub in self.catching_up)
        self.groups.clear()
        self.backlogged.clear()
        self.catching_up.clear()
        for conn in conns:
            self._close(conn, code, reason)

    def _close(self, conn: ServerConnection, code: int, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(conn.close(code, reason))
        self._closing.add(task)  # a reference until it is done, as asyncio asks
        task.add_done_callback(self._closing.discard)

    def cut_off(self, conn: ServerConnection) -> None:
        """Stop writing to a client that does not read, and close it with 1008."""
        for key, group in list(self.groups.items()):
            if conn in group:
                group.discard(conn)
                if not group:
                    del self.groups[key]
        for sub in [s for s in self.catching_up if s.conn is conn]:
            self.catching_up.discard(sub)
        self.backlogged.pop(conn, None)
        self.stats.slow_closed += 1
        log.warning("cut off a slow client", extra={"peer": str(conn.remote_address)})
        # The close frame may never get through a full buffer: websockets aborts the TCP
        # connection after close_timeout, and nothing more is written to it meanwhile.
        self._close(conn, SLOW_CLOSE_CODE, SLOW_CLOSE_REASON)
