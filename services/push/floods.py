"""Flood control for the push service: connections per client address, and bounded buffers."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections import Counter

from websockets.http11 import Response

from services.push.hub import HubStats
from services.push.responses import problem_response

log = logging.getLogger(__name__)


class AddressCap:
    """Counts each address's connections from the handshake until the TCP connection is gone.

    The slot is taken before the handshake completes and given back when the connection is
    lost, whatever ends it (close, abort, failed handshake: push/connection.py releases it in
    ``connection_lost``), so a burst of simultaneous handshakes cannot overshoot the cap and
    nothing leaks.
    """

    def __init__(self, limit: int, stats: HubStats) -> None:
        self.limit = limit
        self.stats = stats
        self.open: Counter[str] = Counter()

    def admit(self, address: str, transport: str = "ws") -> Response | None:
        """None to let the connection in (holding a slot until ``release``), else a 503."""
        if self.open[address] >= self.limit:
            self.stats.refused[transport] += 1  # counted, not logged: a flood would flood the log
            return _too_many(self.limit)
        self.open[address] += 1
        if self.open[address] == self.limit:
            log.warning("one address reached its connection cap", extra={"peer": address})
        return None

    def release(self, address: str) -> None:
        """Give back the slot of an admitted connection, once it is gone."""
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


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


def _too_many(limit: int) -> Response:
    return problem_response(
        503,
        f"at most {limit} connections per address; close some or retry later",
        errors=[{"field": "address", "reason": "too many connections"}],
    )
