"""Flood control for the push service: connections per address and per process from accept,
handshakes, descriptors, and bounded buffers."""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import sys
import time
from collections import Counter
from typing import Protocol

log = logging.getLogger(__name__)


class Accepted(Protocol):
    """What the gate keeps of a connection: its transport, to shed it."""

    @property
    def transport(self) -> asyncio.WriteTransport:
        """The connection's transport (``abort`` closes it at once)."""


SHED_REASONS = ("address", "handshakes", "descriptors")
LOG_EVERY_S = 60.0  # a flood is logged at most this often (it is counted on /metrics)
# A handshake beyond its address's share (a burst of reconnects through one proxy, or a flood)
# must send its request within this, and is the first to go when the process is full.
SURPLUS_GRACE_S = 1.0
# Over the process's handshake cap, the oldest handshakes are closed this long after: a burst
# accepted in one turn of the loop has its requests (already in the sockets) read by then.
SWEEP_S = 0.1


class ConnectionGate:
    """Counts every connection of a push process from accept until the TCP connection is gone,
    and closes the ones the process cannot afford before they cost more than a descriptor for
    a moment.

    A connection is *handshaking* from accept until its request has been read. At accept:

    - an address holding ``LIVEFEED_MAX_CONNECTIONS_PER_IP`` connections (streams, handshakes
      and closing ones alike) gets no more: the new one is closed at once;
    - an address holding ``LIVEFEED_PUSH_MAX_HANDSHAKING_PER_IP`` handshakes gets a *surplus*
      handshake: it must send its request within ``SURPLUS_GRACE_S`` (a burst of reconnects
      does, in milliseconds; an idle socket does not) instead of the handshake timeout;
    - a process holding as many connections as its descriptors allow (``descriptors``)
      closes its oldest surplus handshake, else its oldest handshake, to make room; with none
      to close, the new connection goes;
    - a process holding more than ``LIVEFEED_PUSH_MAX_HANDSHAKING`` handshakes closes the
      oldest ones (surplus first) ``SWEEP_S`` later, once a burst's requests have been read.

    A socket that has sent nothing for the longest is the likeliest to be a flood's, and a
    client that sends its request at once (a reader, a health probe) always gets in.

    So one address's idle sockets never take more than its share of the handshakes, and idle
    sockets from everywhere never take the process's descriptors.
    """

    def __init__(
        self,
        *,
        per_address: int,
        handshaking: int,
        handshaking_per_address: int,
        descriptors: int,
        shed: Counter[str],
    ) -> None:
        self.per_address = per_address
        self.max_handshaking = handshaking
        self.handshaking_per_address = handshaking_per_address
        self.max_open = descriptors
        self.shed = shed  # connections closed at accept or to make room, by reason
        self.open: Counter[str] = Counter()  # every connection of an address, from accept
        self.total = 0
        self.waiting: dict[Accepted, str] = {}  # handshaking connections, oldest first
        self.surplus: dict[Accepted, None] = {}  # those beyond their address's share
        self.share: Counter[str] = Counter()  # handshakes per address within its share
        self._sweep: asyncio.TimerHandle | None = None
        self._logged_at = -LOG_EVERY_S

    @property
    def handshaking(self) -> int:
        """Connections whose request has not been read yet."""
        return len(self.waiting)

    def accept(self, conn: Accepted, address: str, timeout: float) -> float | None:
        """Count a connection just accepted from ``address``: the seconds it has to send its
        request (``timeout``, or less for a surplus handshake), or None to close it at once
        (then it is not counted). May close the oldest handshake to make room for it."""
        if self.open[address] >= self.per_address:
            self._shed("address", address)
            return None
        if self.total >= self.max_open:
            if not self.waiting:  # every descriptor is a stream's: the newcomer goes
                self._shed("descriptors", address)
                return None
            self._close_oldest("descriptors")
        self.open[address] += 1
        self.total += 1
        self.waiting[conn] = address
        if len(self.waiting) > self.max_handshaking and self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(SWEEP_S, self._trim)
        if self.share[address] >= self.handshaking_per_address:
            self.surplus[conn] = None
            return min(timeout, SURPLUS_GRACE_S)
        self.share[address] += 1
        return timeout

    def request_read(self, conn: Accepted) -> None:
        """The connection's request has arrived (or it is going): no longer a handshake."""
        address = self.waiting.pop(conn, None)
        if address is None:
            return
        if conn in self.surplus:
            del self.surplus[conn]
        else:
            _decrement(self.share, address)

    def lost(self, conn: Accepted, address: str) -> None:
        """An accepted connection is gone: give back everything it held."""
        self.request_read(conn)
        _decrement(self.open, address)
        self.total -= 1

    def stop(self) -> None:
        """No more sweeps (the process is stopping)."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None

    def _trim(self) -> None:
        """Close the oldest handshakes (surplus first) beyond the process's cap."""
        self._sweep = None
        while len(self.waiting) > self.max_handshaking:
            self._close_oldest("handshakes")

    def _close_oldest(self, reason: str) -> None:
        oldest = next(iter(self.surplus or self.waiting))
        self._shed(reason, self.waiting[oldest])
        self.request_read(oldest)
        oldest.transport.abort()  # counted in ``open`` until it is lost, on the next turn

    def _shed(self, reason: str, address: str) -> None:
        self.shed[reason] += 1  # counted, logged once a minute: a flood would flood the log
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.warning(
                "closing connections the process cannot afford (flood control)",
                extra={"reason": reason, "peer": address, "shed": dict(self.shed)},
            )


def descriptor_budget(reserve: int) -> int:
    """Connections this process can hold: its descriptor limit (``ulimit -n``, soft) less
    ``reserve`` for everything else it opens (Redis, logs, the listening sockets)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return sys.maxsize
    return max(1, soft - reserve)


def _decrement(counts: Counter[str], key: str) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]


def bound_send_buffer(transport: asyncio.BaseTransport, limit: int) -> None:
    """Cap the kernel's send buffer of this connection at ``limit`` bytes (Linux doubles it).

    Without it the kernel autotunes a stalled client's send buffer up to tcp_wmem's maximum
    (4 MiB on loopback), so a reader that stops reading holds megabytes before the hub's own
    byte limit ever sees a backlog and cuts it off. With it, the bound is about 3x the limit.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, limit)


def address_of(transport: asyncio.BaseTransport) -> str:
    """The client's address (without the port): what the per-address cap counts. Interned:
    the connections from one address share one string."""
    peer = transport.get_extra_info("peername")
    return sys.intern(str(peer[0]) if isinstance(peer, tuple) and peer else str(peer))
