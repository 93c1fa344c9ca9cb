"""Fan-out: every event is written to every matching client in one synchronous pass.

Clients are grouped by their filter, so an event touches only the groups it matches. Each
frame is serialized once and written straight to each client's transport; a client whose unsent
bytes pass the limit stops receiving and is closed (1008), so it can never slow the others or
grow the server's memory.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from shared.events import Event, EventId

log = logging.getLogger(__name__)

FilterKey = tuple[str | None, str | None]
SLOW_CLOSE_CODE = 1008
SLOW_CLOSE_REASON = "too slow: reconnect with since"


@dataclass(eq=False)
class Subscriber:
    """One connected client while it catches up (replay) before joining the live groups."""

    conn: ServerConnection
    section: str | None
    label: str | None
    pending: list[Event] = field(default_factory=list)
    pending_bytes: int = 0

    @property
    def key(self) -> FilterKey:
        """The live group this client joins."""
        return (self.section, self.label)


@dataclass
class HubStats:
    """Counters exposed on /healthz and /metrics."""

    events: int = 0
    frames_sent: int = 0
    slow_closed: int = 0
    refused: int = 0


class Hub:
    """The connected clients of one push process, and the single place events fan out from."""

    def __init__(self, buffer_limit: int) -> None:
        self.buffer_limit = buffer_limit
        self.groups: dict[FilterKey, set[ServerConnection]] = {}
        self.catching_up: set[Subscriber] = set()
        self.last_id: EventId | None = None  # the newest event fanned out (None: not started)
        self.stats = HubStats()

    @property
    def clients(self) -> int:
        """How many clients are connected (live or catching up)."""
        return sum(len(group) for group in self.groups.values()) + len(self.catching_up)

    def publish(self, event: Event) -> None:
        """Fan ``event`` out to every matching live client and queue it for catching-up ones."""
        slow: list[ServerConnection] = []
        for section in (None, *event.sections):
            for label in (None, *event.labels):
                group = self.groups.get((section, label))
                if group:
                    self._write_all(group, event.wire, slow)
        for sub in self.catching_up:
            if event.matches(sub.section, sub.label):
                sub.pending.append(event)
                sub.pending_bytes += len(event.wire)
                if sub.pending_bytes > self.buffer_limit:
                    slow.append(sub.conn)
        self.last_id = event.id
        self.stats.events += 1
        for conn in slow:
            self.cut_off(conn)

    def _write_all(
        self, group: set[ServerConnection], wire: bytes, slow: list[ServerConnection]
    ) -> None:
        limit = self.buffer_limit
        sent = 0
        for conn in group:
            if conn.protocol.state is not State.OPEN:
                continue
            transport = conn.transport
            if transport.get_write_buffer_size() > limit:
                slow.append(conn)
                continue
            transport.write(wire)
            sent += 1
        self.stats.frames_sent += sent

    def join_live(self, conn: ServerConnection, key: FilterKey) -> None:
        """Add a client that is up to date to its live group."""
        self.groups.setdefault(key, set()).add(conn)

    def start_catch_up(self, sub: Subscriber) -> None:
        """From now on, events for ``sub`` are kept in its pending list until it is live."""
        self.catching_up.add(sub)

    def finish_catch_up(self, sub: Subscriber) -> None:
        """Move ``sub`` to its live group. Call only when its pending list is empty."""
        self.catching_up.discard(sub)
        self.join_live(sub.conn, sub.key)

    def remove(self, conn: ServerConnection, key: FilterKey, sub: Subscriber | None) -> None:
        """Forget a client that has gone."""
        group = self.groups.get(key)
        if group is not None:
            group.discard(conn)
            if not group:
                del self.groups[key]
        if sub is not None:
            self.catching_up.discard(sub)

    def cut_off(self, conn: ServerConnection) -> None:
        """Stop writing to a client that does not read, and close it with 1008."""
        for key, group in list(self.groups.items()):
            if conn in group:
                group.discard(conn)
                if not group:
                    del self.groups[key]
        for sub in [s for s in self.catching_up if s.conn is conn]:
            self.catching_up.discard(sub)
        self.stats.slow_closed += 1
        log.warning("cut off a slow client", extra={"peer": str(conn.remote_address)})
        # The close frame may never get through a full buffer: websockets aborts the TCP
        # connection after close_timeout, and nothing more is written to it meanwhile.
        asyncio.get_running_loop().create_task(conn.close(SLOW_CLOSE_CODE, SLOW_CLOSE_REASON))
