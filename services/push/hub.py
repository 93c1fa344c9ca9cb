"""Fan-out: every event is written to every matching reader in one synchronous pass.

Transport-neutral: a reader is a WebSocket or an SSE stream (``Reader``), both on the push
port, both served from here. Readers are grouped by filter and transport, so an event touches
only the groups it matches, and each frame is serialized once per audience and framed once per
transport (``protocol.Frames``), then written straight to each reader's transport. A reader
that stops reading is handled in two steps, the same for both transports, so it can never slow
the others or grow the server's memory:

1. Once its unsent bytes pass half the limit, it leaves its group and new frames are *held*
   for it, coalesced: a newer change of an article replaces the held one (a reader behind on a
   story being edited gets its latest version, not every draft). A flusher writes the held
   frames, in event order, as the socket drains, and the reader rejoins its group.
2. Only when unsent plus held bytes pass the limit is it cut off and counted: a WebSocket is
   closed with 1008, an SSE stream's connection is aborted (really closed, kernel buffer and
   all); both resume with ``since``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field

from services.push.protocol import TOO_SLOW, Frames, frame_of
from shared.events import (
    CORRECTED,
    PUBLISHED,
    RETRACTED,
    UPDATED,
    Event,
    EventId,
    FilterKey,
)

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.02  # how often held frames are retried while any reader has some
TRANSPORTS = ("ws", "sse")


class Reader:
    """One connected reader as the hub sees it: the transport frames go to, and its filter.

    A transport's connection class is a ``Reader`` (push/connection.py ``Connection`` serves
    both WebSocket and SSE): the hub writes prepared frames straight to ``transport`` and
    closes a reader through ``close``, whatever carries it.
    """

    __slots__ = ("gone", "key", "sse", "transport")

    transport: asyncio.WriteTransport
    key: FilterKey
    sse: bool
    gone: bool  # True once nothing more may be written to it (closing or closed)

    @property
    def kind(self) -> str:
        """``ws`` or ``sse`` (the metrics' transport label)."""
        return "sse" if self.sse else "ws"

    @property
    def open(self) -> bool:
        """Whether frames may still be written to it."""
        return not self.gone and not self.transport.is_closing()

    @property
    def peer(self) -> str:
        """The client's address, for logs."""
        return str(self.transport.get_extra_info("peername"))

    def frame(self, event: Event) -> bytes:
        """``event`` (already chosen for this reader's filter) framed for its transport."""
        return frame_of(event, self.sse)

    def close(self, code: int, reason: str) -> None:
        """End the stream: a WebSocket close frame (``code``, ``reason``); SSE simply ends,
        or is aborted when the reader was cut off as too slow (``protocol.TOO_SLOW``)."""
        raise NotImplementedError

    async def drain(self) -> None:
        """Return once the unsent bytes are below the low-water mark (or the reader is gone)."""
        raise NotImplementedError

    async def wait_closed(self) -> None:
        """Return once the connection is gone."""
        raise NotImplementedError


@dataclass(eq=False)
class Subscriber:
    """One connected reader while it catches up (replay) before joining the live groups."""

    reader: Reader
    floor: EventId  # the reader has seen everything up to here: nothing at or below is sent
    pending: list[Event] = field(default_factory=list)
    pending_bytes: int = 0

    @property
    def section(self) -> str | None:
        return self.reader.key[0]

    @property
    def label(self) -> str | None:
        return self.reader.key[1]

    @property
    def lang(self) -> str | None:
        return self.reader.key[2]


@dataclass(eq=False)
class Backlog:
    """Frames held back from a client whose socket is full: the newest change per article."""

    reader: Reader
    held: dict[EventId, Event] = field(default_factory=dict)  # in event order
    latest: dict[bytes, EventId] = field(default_factory=dict)  # article -> its held event
    size: int = 0

    def hold(self, event: Event) -> bool:
        """Keep ``event`` for later; True when it was merged into a held change of its article.

        A merge happens in place: the held frame keeps its position and event id and takes the
        newest headline. Ids the client sees still only go up, and a client cut off after it
        resumes from that id, so the newer change is replayed (harmless) rather than skipped.
        A correction note is never merged away: a held correction keeps its note when a newer
        update merges into it, and a second correction is held as a frame of its own.
        """
        previous_id = self.latest.get(event.article)
        if previous_id is not None:
            held = self.held[previous_id]
            kind = _merged_kind(held.kind, event.kind)
            if kind is not None:
                self.size -= len(held.text)
                if kind == DROP:
                    del self.held[previous_id], self.latest[event.article]
                    return True
                note = held.note if held.kind == CORRECTED and event.kind != CORRECTED else None
                merged = event.restamp(kind, held.id, note)
                self.held[previous_id] = merged
                self.size += len(merged.text)
                return True
        self.held[event.id] = event
        self.latest[event.article] = event.id
        self.size += len(event.text)
        return False

    def take(self) -> Event:
        """Remove and return the oldest held frame."""
        event = self.held.pop(next(iter(self.held)))
        if self.latest.get(event.article) == event.id:
            del self.latest[event.article]
        self.size -= len(event.text)
        return event


DROP = b""  # the merge of a publication the client never saw and its retraction: nothing


def _merged_kind(held: bytes, newer: bytes) -> bytes | None:
    """What one frame standing for both changes announces, or None when both must go out.

    An update or retraction makes an unsent publication or update of the same article moot;
    a publication the client has not seen stays a publication (with the newest headline, whose
    ``corrections`` list carries every note), and one retracted before the client saw it needs
    no frame at all. A re-publication after a retraction is not merged: the client must see
    both. Corrections: an update merged into a held correction stays a correction (its note
    kept), a correction merged into a held update is a correction, and two corrections are
    never merged, so that each note is announced.
    """
    if held not in (PUBLISHED, UPDATED, CORRECTED) or newer not in (UPDATED, CORRECTED, RETRACTED):
        return None
    if held == PUBLISHED:
        return DROP if newer == RETRACTED else PUBLISHED
    if held == CORRECTED and newer == CORRECTED:
        return None
    if held == CORRECTED and newer == UPDATED:
        return CORRECTED
    return newer


@dataclass
class HubStats:
    """Counters exposed on /healthz and /metrics, by transport where it tells."""

    events: int = 0
    frames_sent: Counter[str] = field(default_factory=Counter)
    coalesced: Counter[str] = field(default_factory=Counter)
    slow_closed: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    shed: Counter[str] = field(default_factory=Counter)  # closed at accept, by reason


class Hub:
    """The connected readers of one push process, and the single place events fan out from."""

    def __init__(self, buffer_limit: int) -> None:
        self.buffer_limit = buffer_limit
        self.hold_mark = buffer_limit // 2  # unsent bytes above which frames are held
        self.groups: dict[tuple[FilterKey, bool], set[Reader]] = {}  # (filter, sse) -> readers
        self.catching_up: set[Subscriber] = set()
        self.backlogged: dict[Reader, Backlog] = {}
        self.last_id: EventId | None = None  # the newest event fanned out (None: not started)
        self.stats = HubStats()
        self._flusher: asyncio.Task[None] | None = None
        self._waiters: list[tuple[EventId, asyncio.Future[None]]] = []

    @property
    def clients(self) -> int:
        """How many readers are connected (live, behind, or catching up), both transports."""
        live = sum(len(group) for group in self.groups.values())
        return live + len(self.backlogged) + len(self.catching_up)

    def clients_by_transport(self) -> Counter[str]:
        """Connected readers per transport."""
        counts: Counter[str] = Counter({kind: 0 for kind in TRANSPORTS})
        for (_key, sse), group in self.groups.items():
            counts["sse" if sse else "ws"] += len(group)
        for reader in self.backlogged:
            counts[reader.kind] += 1
        for sub in self.catching_up:
            counts[sub.reader.kind] += 1
        return counts

    def behind_by_transport(self) -> Counter[str]:
        """Readers with frames held, per transport."""
        counts: Counter[str] = Counter({kind: 0 for kind in TRANSPORTS})
        for reader in self.backlogged:
            counts[reader.kind] += 1
        return counts

    def publish(self, event: Event) -> Frames:
        """Fan ``event`` out to every matching live reader and queue it for the others.

        Returns its frames (made at most once per transport and audience), which the replay
        buffer keeps for resumes."""
        slow: list[Reader] = []
        full: list[Reader] = []
        for backlog in self.backlogged.values():
            seen = event.for_filter(*backlog.reader.key)
            if seen is not None:
                self._hold(backlog, seen, slow)
        frames = Frames(event)
        now, left = event.filter_keys(key for key, _sse in self.groups)
        for key in now:
            for sse in (False, True):
                group = self.groups.get((key, sse))
                if group:
                    self._write_all(group, frames.get(sse), full, sse)
        # The article left these filters: their subscribers are told to remove it.
        for key in left:
            for sse in (False, True):
                group = self.groups.get((key, sse))
                if group:
                    self._write_all(group, frames.get(sse, left=True), full, sse)
        for reader in full:
            self._leave_group(reader)
            backlog = self.backlogged[reader] = Backlog(reader)
            seen = event.for_filter(*reader.key)
            assert seen is not None  # it was written to that key's group
            self._hold(backlog, seen, slow)
        if full:
            self._start_flusher()
        for sub in self.catching_up:
            seen = event.for_filter(*sub.reader.key) if event.id > sub.floor else None
            if seen is not None:
                sub.pending.append(seen)
                sub.pending_bytes += len(seen.text)
                if sub.pending_bytes > self.buffer_limit:
                    slow.append(sub.reader)
        self.last_id = event.id
        self.stats.events += 1
        if self._waiters:
            self._wake_waiters()
        for reader in slow:
            self.cut_off(reader)
        return frames

    async def reached(self, floor: EventId) -> None:
        """Return once the stream reader has fanned out ``floor`` (or anything after it).

        A reader resuming from an id the stream reader has not reached yet (taken from the
        timeline a moment ahead of it, or after a Redis blip) waits here before it goes live,
        so that the events up to its ``since`` are never sent to it.
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

    def _write_all(self, group: set[Reader], frame: bytes, full: list[Reader], sse: bool) -> None:
        # The hot loop (every reader, every event): plain attribute reads, no property calls.
        # A reader that is closing has left its group already; ``is_closing`` catches one
        # whose socket failed during this very fan-out.
        mark = self.hold_mark
        sent = 0
        for reader in group:
            transport = reader.transport
            if transport.is_closing():
                continue
            if transport.get_write_buffer_size() > mark:
                full.append(reader)
                continue
            transport.write(frame)
            sent += 1
        self.stats.frames_sent["sse" if sse else "ws"] += sent

    def _hold(self, backlog: Backlog, event: Event, slow: list[Reader]) -> None:
        if backlog.hold(event):
            self.stats.coalesced[backlog.reader.kind] += 1
        reader = backlog.reader
        if reader.transport.get_write_buffer_size() + backlog.size > self.buffer_limit:
            slow.append(reader)

    def _leave_group(self, reader: Reader) -> None:
        gkey = (reader.key, reader.sse)
        group = self.groups.get(gkey)
        if group is not None:
            group.discard(reader)
            if not group:
                del self.groups[gkey]

    def flush(self) -> None:
        """Write held frames to every reader whose socket has drained; rejoin the caught-up."""
        mark = self.hold_mark
        for reader, backlog in list(self.backlogged.items()):
            if not reader.open:
                del self.backlogged[reader]
                continue
            transport = reader.transport
            while backlog.held and transport.get_write_buffer_size() <= mark:
                transport.write(reader.frame(backlog.take()))
                self.stats.frames_sent[reader.kind] += 1
            if not backlog.held:
                del self.backlogged[reader]
                self.join_live(reader)

    def _start_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            flushing = self._flush_while_held()
            self._flusher = asyncio.get_running_loop().create_task(flushing, name="flusher")

    async def _flush_while_held(self) -> None:
        # Polling only while some reader is behind: asyncio has no per-transport "drained"
        # callback short of subclassing the connection, and 20 ms is far below a human's notice.
        while self.backlogged:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            try:
                self.flush()
            except Exception:  # a bug here must not strand every reader behind: say so, go on
                log.exception("writing held frames failed")

    async def close(self) -> None:
        """Stop the flusher (at shutdown, once the readers are closed)."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher

    def join_live(self, reader: Reader) -> None:
        """Add a reader that is up to date to its live group."""
        self.groups.setdefault((reader.key, reader.sse), set()).add(reader)

    def start_catch_up(self, sub: Subscriber) -> None:
        """From now on, events for ``sub`` are kept in its pending list until it is live."""
        self.catching_up.add(sub)

    def finish_catch_up(self, sub: Subscriber) -> None:
        """Move ``sub`` to its live group. Call only when its pending list is empty.

        A reader whose replay still fills its socket past the hold mark starts behind (its
        frames held), rather than being cut off by the first live event that finds no room.
        """
        self.catching_up.discard(sub)
        if sub.reader.transport.get_write_buffer_size() > self.hold_mark:
            self.backlogged[sub.reader] = Backlog(sub.reader)
            self._start_flusher()
        else:
            self.join_live(sub.reader)

    def remove(self, reader: Reader, sub: Subscriber | None = None) -> None:
        """Forget a reader that has gone."""
        self._leave_group(reader)
        self.backlogged.pop(reader, None)
        if sub is not None:
            self.catching_up.discard(sub)
        else:
            self.catching_up = {s for s in self.catching_up if s.reader is not reader}

    def all_readers(self) -> set[Reader]:
        """Every connected reader."""
        readers = {r for group in self.groups.values() for r in group}
        readers.update(self.backlogged)
        readers.update(sub.reader for sub in self.catching_up)
        return readers

    def close_all(self, code: int, reason: str) -> None:
        """Close every reader (they reconnect with ``since``) and forget them."""
        readers = self.all_readers()
        self.groups.clear()
        self.backlogged.clear()
        self.catching_up.clear()
        for reader in readers:
            reader.close(code, reason)

    def cut_off(self, reader: Reader) -> None:
        """Stop writing to a reader that does not read, and close it (1008 / abort)."""
        self.remove(reader)
        self.stats.slow_closed[reader.kind] += 1
        log.warning(
            "cut off a slow client",
            extra={"peer": reader.peer, "transport": reader.kind},
        )
        # A WebSocket's close frame may never get through a full buffer: the connection is
        # aborted after its close timeout, and nothing more is written to it meanwhile.
        reader.close(*TOO_SLOW)
