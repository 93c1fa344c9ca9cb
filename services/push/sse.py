"""``GET /v1/events``: the stream as Server-Sent Events, on the push port, from the same hub.

The push port is served by ``websockets``, which parses every request and lets
``process_request`` answer it. For ``/v1/events`` the answer is a stream: this module writes
the response head itself, straight to the socket's transport, and from then on the hub writes
SSE frames there exactly as it writes WebSocket frames to the others (same groups, same
backlog, same cut-off). ``websockets`` is given a stand-in transport (``_Detached``) for the
rest of its handshake, so the plain answer it would send and the abort that follows go
nowhere, while the socket's flow control and connection loss still reach the websockets
connection object (its ``drain()`` and ``connection_lost_waiter`` serve both transports).

The body is close-delimited (``Connection: close``, no chunking): the stream ends when either
side closes. Keep-alive comments for every SSE reader come from one timer, not one per stream.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from services.push.hub import Hub, Reader
from services.push.protocol import SSE_KEEPALIVE, SSE_PREAMBLE_FMT
from services.push.query import QueryError
from shared.events import EventId

log = logging.getLogger(__name__)

PATH = "/v1/events"
# EventSource reconnects after ``retry`` ms: a random value per stream spreads a fleet of
# readers dropped at once (a deploy, a proxy restart) instead of bringing them back in lock-step.
RETRY_MS = (1_000, 5_000)


class _Detached(asyncio.Transport):
    """What websockets writes to once an SSE stream owns the socket: nothing goes anywhere."""

    def __init__(self, real: asyncio.BaseTransport) -> None:
        super().__init__()
        self._real = real

    def write(self, data: Any) -> None:
        """Dropped: the socket carries the event stream now."""

    def write_eof(self) -> None:
        """Dropped."""

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        """Ignored: the stream's end is decided by the hub and the client."""

    def abort(self) -> None:
        """Ignored, as ``close``."""

    def is_closing(self) -> bool:
        return self._real.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._real.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return 0


def response_head(origin: str | None) -> bytes:
    """The status line and headers of an event stream (``origin``: an allowed CORS origin)."""
    lines = [
        "HTTP/1.1 200 OK",
        "Content-Type: text/event-stream; charset=utf-8",
        "Cache-Control: no-store",
        # nginx and friends buffer responses by default, which would hold events back.
        "X-Accel-Buffering: no",
        "Connection: close",
        "Vary: Origin",
    ]
    if origin is not None:
        lines.append(f"Access-Control-Allow-Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def take_over(conn: ServerConnection, key: tuple[str | None, str | None], head: bytes) -> Reader:
    """Make this connection an SSE reader: write the head and the preamble, detach websockets."""
    transport = conn.transport
    conn.transport = _Detached(transport)
    retry = random.randint(*RETRY_MS)  # noqa: S311 - jitter, not security
    transport.write(head + SSE_PREAMBLE_FMT.format(retry=retry).encode())
    return Reader(conn, transport, key, sse=True)


def handed_over() -> Response:
    """What ``process_request`` gives websockets for a stream it no longer owns (discarded)."""
    return Response(200, "OK", Headers([("Connection", "close")]), b"")


class Keepalive:
    """One timer for every SSE stream: a comment line each interval keeps proxies from timing
    the stream out and lets the server notice a vanished client (its write fails)."""

    def __init__(self, hub: Hub, interval: float) -> None:
        self.hub = hub
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sse-keepalive")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            mark = self.hub.hold_mark
            for (_key, sse), group in list(self.hub.groups.items()):
                if not sse:
                    continue
                for reader in group:
                    if reader.open and reader.transport.get_write_buffer_size() <= mark:
                        reader.transport.write(SSE_KEEPALIVE)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def on_lost(conn: ServerConnection, gone: Callable[[], None]) -> None:
    """Call ``gone`` once the SSE reader's connection is lost, whoever ends it."""
    conn.connection_lost_waiter.add_done_callback(lambda _done: gone())


def since_of(request: Request, query_since: EventId | None) -> EventId | None:
    """``Last-Event-ID`` (as EventSource sends it on reconnect) wins over ``?since=``.

    Raises ``QueryError`` naming ``Last-Event-ID`` when the header is not an event id.
    """
    header = request.headers.get("Last-Event-ID")
    if not header:
        return query_since
    try:
        return EventId.parse(header)
    except ValueError as exc:
        raise QueryError("Last-Event-ID", str(exc)) from exc
