"""One TCP connection on the push port, with no task of its own.

Each connection is an ``asyncio.Protocol`` (``Connection``): the event loop calls it when bytes
arrive, when its socket's buffer fills or drains, and when it is gone. It reads the HTTP request
and runs the WebSocket handshake with ``websockets``' Sans-I/O ``ServerProtocol``, then:

- a plain HTTP answer (``/healthz``, ``/readyz``, ``/metrics``, every refusal) is written and
  the connection closed;
- ``/v1/events`` becomes an SSE stream: the response head is written and no parser is kept
  (the client only listens; what it sends is ignored);
- ``/v1/stream`` becomes a WebSocket: after the 101 a fresh Sans-I/O ``Protocol`` (without
  the handshake's request, which the server protocol's parser would hold on to) parses the
  client's few frames (pongs, close, pings it answers) and frames the close.

Events never pass through here: the hub writes pre-framed bytes straight to ``transport``
(this class is the hub's ``Reader``). Every connection's one deadline (handshake timeout, next
ping or SSE keep-alive, end of its closing grace) is kept on the process's one timer wheel.

A connection is counted from the moment it is accepted (``Service.accepted``): one the process
cannot afford (too many from its address, too many handshakes) is closed there and then,
before it holds a descriptor for longer than one turn of the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol as Interface
from typing import cast

from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import OPEN, SERVER, Protocol
from websockets.server import ServerProtocol

from services.push.hub import Reader
from services.push.protocol import TOO_SLOW, WS_PING
from services.push.wheel import TimerWheel
from shared.events import EventId, FilterKey
from shared.frames import SSE_KEEPALIVE

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0  # after a close frame or a plain answer, the client has this long to go
MAX_MESSAGE = 4096  # clients only listen: anything bigger is a protocol error (1009)
PING_TIMEOUT = (1011, "keepalive ping timeout")

# Phases of a connection.
HANDSHAKE, WEBSOCKET, EVENTS, CLOSING, CLOSED = range(5)


@dataclass(frozen=True, slots=True)
class Opening:
    """A request the service lets in: which stream, for what, from where."""

    key: FilterKey
    since: EventId | None
    sse_head: bytes | None = None  # the SSE response head; None: a WebSocket handshake
    tabs: int = 1  # the tabs the page's connection serves (``?tabs=``)


class Service(Interface):
    """What a connection asks of the push process."""

    wheel: TimerWheel
    ping_interval: float
    hold_mark: int  # unsent bytes above which a stream is behind (no keep-alive then)

    def accepted(self, conn: Connection) -> float | None:
        """A connection was accepted: count it and give the seconds it has to send its
        request, or None to close it at once."""

    def answer(self, conn: Connection, request: Request) -> Response | Opening:
        """A plain answer (health, metrics, a refusal), or the stream to open."""

    def opened(self, conn: Connection, opening: Opening) -> None:
        """The stream is open (101 sent, or the SSE head): say hello, replay, go live."""

    def told(self, conn: Connection, text: bytes) -> None:
        """A WebSocket client sent a text message (clients only listen, but for the tabs
        their page serves: docs/stream.md)."""

    def forget(self, conn: Connection) -> None:
        """The stream is ending (closing or gone): no more frames for it. Idempotent."""

    def lost(self, conn: Connection) -> None:
        """The TCP connection is gone (once, for every connection)."""


class Connection(Reader, asyncio.Protocol):
    """One client of the push port: a WebSocket, an SSE stream, or a plain HTTP request."""

    __slots__ = (
        "address", "due", "paused", "phase", "pinged", "service", "slot", "tabs", "waiters", "ws",
    )  # fmt: skip

    def __init__(self, service: Service) -> None:
        self.service = service
        self.key = (None, None, None)
        self.sse = False
        self.gone = False
        self.phase = HANDSHAKE
        self.ws: Protocol | None = ServerProtocol(max_size=MAX_MESSAGE)
        self.address: str | None = None  # set once counted (at accept), until it is lost
        self.due = 0.0
        self.slot = -1
        self.pinged = False  # a ping went out and nothing came back since
        self.paused = False  # the transport's buffer is above its high-water mark
        self.waiters: list[tuple[bool, asyncio.Future[None]]] | None = None  # (closed?, fut)
        self.tabs = 0  # the tabs it serves, once counted among the readers (push/audience.py)

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        timeout = self.service.accepted(self)
        if timeout is None:  # flood control (push/floods.py): closed at once
            self.phase = CLOSED
            self.gone = True
            self.ws = None
            self.transport.abort()
            return
        self.service.wheel.schedule(self, timeout)

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        if ws is None:  # an SSE stream, or a connection already answered
            return
        self.pinged = False  # anything from the client shows it is alive
        ws.receive_data(data)
        events = ws.events_received()
        if self.phase == HANDSHAKE and events:
            request = events[0]
            assert isinstance(request, Request)
            self._answer(request)
            return
        if self.phase == WEBSOCKET:
            for event in events:
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT and event.fin:
                    self.service.told(self, bytes(event.data))
        self._send(ws)
        if ws.close_expected():
            self._closing()

    def eof_received(self) -> bool:
        if self.ws is not None:
            self.ws.receive_eof()
            self._send(self.ws)
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.phase = CLOSED
        self.gone = True
        self.ws = None
        self.service.wheel.cancel(self)
        self.service.lost(self)
        self._wake(closed=True)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake(closed=False)

    # -- the request ------------------------------------------------------------------------

    def _answer(self, request: Request) -> None:
        ws = self.ws
        assert isinstance(ws, ServerProtocol)
        verdict = self.service.answer(self, request)
        if isinstance(verdict, Response):
            ws.send_response(verdict)  # and EOF: a plain answer closes the connection
            self._send(ws)
            self._closing()
            return
        self.key = verdict.key
        wheel = self.service.wheel
        if verdict.sse_head is not None:
            self.sse = True
            self.ws = None
            self.phase = EVENTS
            self.transport.write(verdict.sse_head)
            wheel.schedule(self, self.service.ping_interval)
            self.service.opened(self, verdict)
            return
        response = ws.accept(request)
        ws.send_response(response)
        self._send(ws)
        if response.status_code != 101:  # not a valid handshake: its answer said why
            self._closing()
            return
        # The handshake's parser holds the request for the connection's lifetime: a fresh
        # protocol, open from the start, parses the client's frames from here on.
        self.ws = Protocol(SERVER, state=OPEN, max_size=MAX_MESSAGE)
        self.phase = WEBSOCKET
        wheel.schedule(self, self.service.ping_interval)
        self.service.opened(self, verdict)

    def _send(self, ws: Protocol) -> None:
        """Write what the Sans-I/O protocol has to send (handshake, pongs, close, EOF)."""
        transport = self.transport
        for data in ws.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()

    # -- ending -------------------------------------------------------------------------------

    def _closing(self) -> None:
        """No more frames; the connection is aborted if the client has not gone in time."""
        if self.phase >= CLOSING:
            return
        self.phase = CLOSING
        self.gone = True
        self.service.forget(self)
        self.service.wheel.schedule(self, CLOSE_TIMEOUT)

    def close(self, code: int, reason: str) -> None:
        """End the stream (see ``Reader.close``); a connection still in its handshake is
        closed as it is."""
        if self.phase >= CLOSING:
            return
        if self.phase == WEBSOCKET and self.ws is not None:
            self.ws.send_close(code, reason)
            self._send(self.ws)
            self._closing()
            return
        self._closing()
        if self.sse and code == TOO_SLOW[0]:
            self.transport.abort()  # really closed: its kernel buffer too
        else:
            self.transport.close()

    # -- the timer --------------------------------------------------------------------------

    def expired(self, now: float) -> None:
        """The wheel's call: ping or keep-alive due, or a timeout passed."""
        phase = self.phase
        wheel = self.service.wheel
        if phase == WEBSOCKET:
            if self.pinged:
                log.info("closing a client that did not answer a ping", extra={"peer": self.peer})
                self.close(*PING_TIMEOUT)
                return
            self.pinged = True
            self.transport.write(WS_PING)
            wheel.schedule(self, self.service.ping_interval)
        elif phase == EVENTS:
            # A comment line keeps proxies from timing the stream out and shows a vanished
            # client (the write fails); none while the stream is behind.
            if self.transport.get_write_buffer_size() <= self.service.hold_mark:
                self.transport.write(SSE_KEEPALIVE)
            wheel.schedule(self, self.service.ping_interval)
        else:  # the handshake or the closing took too long
            self.transport.abort()

    # -- waiting (a catch-up task writing a replay) -------------------------------------------

    async def drain(self) -> None:
        if not self.paused or self.phase == CLOSED:
            return
        await self._wait(closed=False)

    async def wait_closed(self) -> None:
        if self.phase == CLOSED:
            return
        await self._wait(closed=True)

    async def _wait(self, closed: bool) -> None:
        future = asyncio.get_running_loop().create_future()
        if self.waiters is None:
            self.waiters = []
        self.waiters.append((closed, future))
        await future

    def _wake(self, closed: bool) -> None:
        if not self.waiters:
            return
        keep = []
        for for_close, future in self.waiters:
            if (closed or not for_close) and not future.done():
                future.set_result(None)
            elif not future.done():
                keep.append((for_close, future))
        self.waiters = keep or None


def factory(service: Service) -> Callable[[], Connection]:
    """What ``loop.create_server`` calls for each accepted connection."""
    return lambda: Connection(service)
