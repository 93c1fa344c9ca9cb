"""The push service: ``WS /v1/stream`` and ``GET /v1/events`` (SSE) with resume, plus health
endpoints, on one port, both transports served by one hub (hub.py) from one stream reader.

Close codes and the fixed messages are in protocol.py. Refusals before the handshake (or
before an event stream starts) are HTTP problem documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from urllib.parse import urlsplit

import orjson
import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from websockets.http11 import Request, Response

from services.push import sse
from services.push.audience import AudienceCounter, AudienceReporter
from services.push.connection import CLOSE_TIMEOUT, Connection, Opening, factory
from services.push.floods import ConnectionGate, address_of, bound_send_buffer, descriptor_budget
from services.push.hub import Hub, Reader, Subscriber
from services.push.metrics import register_push_metrics
from services.push.protocol import GOING_AWAY, REPLAY_FAILED, Frames, hello_frame, reset_frame
from services.push.reader import PushFeed
from services.push.replay import ReplayBuffer, write_frames
from services.push.responses import json_response, metrics_response, problem_response
from services.push.wheel import TimerWheel
from shared.audience import tabs_value
from shared.eventlog import events_between, must_reset, stop_reader
from shared.events import EventId
from shared.gc_tuning import tune_gc
from shared.origins import STREAM_ORIGIN_REFUSED, origin_allowed
from shared.redis_client import async_client
from shared.settings import Settings
from shared.stream import BLOCK_MS, StreamConsumer
from shared.stream_query import QueryError, parse_query

log = logging.getLogger(__name__)

# Catch-ups that read Redis at once; the rest wait their turn instead of exhausting the
# client's connection pool (a resume storm used to close clients with 1011 "Too many connections").
REDIS_REPLAYS = 32
# A replay's Redis read that fails on the way (no connection in time under a connect burst, a
# timeout) is tried again, from where it stopped, up to this many times in all, after a pause
# doubling from REPLAY_RETRY_S, while the reader's handshake timeout has not passed since the
# catch-up began; then the reader is closed with 1011 and comes back with since.
REPLAY_ATTEMPTS = 3
REPLAY_RETRY_S = 0.2
TRANSIENT = (RedisConnectionError, RedisTimeoutError)
STREAM_PATH = "/v1/stream"
LISTEN_BACKLOG = 4096  # connections the kernel queues before accept (a reconnect storm)
MAX_TICK = 0.5  # the timer wheel's resolution (seconds), finer for short ping intervals
# Descriptors kept for everything but client connections (Redis, logs, listening sockets, and
# the connections one accept burst takes before the gate sees them): the gate's budget is the
# process's ``ulimit -n`` less this.
FD_RESERVE = 256


def _frames(frames: list[Frames], reader: Reader) -> list[bytes]:
    """The frames a reader receives for these events (its filter decides, see Event)."""
    out = []
    for event_frames in frames:
        event = event_frames.event
        seen = event.for_filter(*reader.key)
        if seen is not None:  # the event itself, or its left() (it left this filter)
            out.append(event_frames.get(reader.sse, left=seen is not event))
    return out


class ReaderGoneError(Exception):
    """The reader's connection went away while it was catching up."""


class PushServer:
    """One push process: a hub, one stream reader, and the connections on its port.

    Connections have no task of their own (push/connection.py); the only per-connection task
    is a short one while a resuming reader catches up.
    """

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.hub = Hub(settings.client_buffer_bytes)
        self.hold_mark = self.hub.hold_mark
        self.ping_interval = settings.ping_interval
        self.handshake_timeout = settings.push_handshake_timeout
        tick = min(MAX_TICK, settings.ping_interval / 4)
        longest = max(settings.ping_interval, CLOSE_TIMEOUT, settings.push_handshake_timeout)
        self.wheel = TimerWheel(tick, longest + tick)
        self.gate = ConnectionGate(
            per_address=settings.max_connections_per_ip,
            handshaking=settings.push_max_handshaking,
            handshaking_per_address=settings.push_max_handshaking_per_ip,
            descriptors=descriptor_budget(FD_RESERVE),
            shed=self.hub.stats.shed,
        )
        self.replay = ReplayBuffer(settings.stream_maxlen)
        self.audience = AudienceCounter()
        self.reporter: AudienceReporter | None = None
        self._reporter_task: asyncio.Task[None] | None = None
        self._redis_replays = asyncio.Semaphore(REDIS_REPLAYS)
        self._catch_ups: set[asyncio.Task[None]] = set()
        self._all_gone: asyncio.Event | None = None
        self.stopping = False
        self.client: aredis.Redis | None = None
        self.reader: StreamConsumer | None = None
        self.server: asyncio.Server | None = None

    # -- the request (connection.Service) ----------------------------------------------------

    def accepted(self, conn: Connection) -> float | None:
        """Count a new connection against its address and the process (push/floods.py)."""
        address = address_of(conn.transport)
        timeout = self.gate.accept(conn, address, self.handshake_timeout)
        if timeout is not None:
            conn.address = address
        return timeout

    def answer(self, conn: Connection, request: Request) -> Response | Opening:
        """Health endpoints, and every refusal (bad query, origin, capacity) before a stream."""
        self.gate.request_read(conn)  # no longer a handshake, whatever the answer
        url = urlsplit(request.path)
        if url.path == "/healthz":
            # readers: every push process's readers as this one last read them (audience.py).
            readers = self.reporter.readers if self.reporter is not None else None
            return json_response(
                200, {"status": "ok", "clients": self.hub.clients, "readers": readers}
            )
        if url.path == "/metrics":
            return metrics_response()
        if url.path == "/readyz":
            ready = self.reader is not None and self.reader.connected
            return json_response(
                200 if ready else 503,
                {"status": "ready" if ready else "unavailable", "clients": self.hub.clients},
            )
        if url.path not in (STREAM_PATH, sse.PATH):
            return problem_response(404, "no such endpoint; the stream is at /v1/stream")
        is_sse = url.path == sse.PATH
        kind = "sse" if is_sse else "ws"
        if request.method != "GET":
            detail = "the event stream is read with GET" if is_sse else "a WebSocket opens with GET"
            return problem_response(405, detail)
        try:
            resume = sse.last_event_id(request) if is_sse else None
            query = parse_query(url.query, read_since=resume is None)
            since = query.since if resume is None else resume
        except QueryError as exc:
            return problem_response(400, exc.detail, errors=exc.errors)
        origin = request.headers.get("Origin")  # none: not a browser, nothing to check
        if origin is not None and not origin_allowed(origin, self.settings.origins):
            detail = STREAM_ORIGIN_REFUSED
            return problem_response(403, detail, errors=[{"field": "origin", "reason": detail}])
        if self.reader is None or not self.reader.ready.is_set() or self.stopping:
            return problem_response(503, "the stream is starting; retry shortly")
        if self.hub.clients >= self.settings.max_connections:
            self.hub.stats.refused[kind] += 1
            return problem_response(503, "this push process is full; retry shortly or use another")
        bound_send_buffer(conn.transport, self.settings.client_buffer_bytes)
        conn.transport.set_write_buffer_limits(high=self.settings.client_buffer_bytes)
        head = sse.response_head(origin) if is_sse else None
        return Opening((query.section, query.label, query.lang), since, head, query.tabs)

    def opened(self, conn: Connection, opening: Opening) -> None:
        """Say hello and join: live at once, or catching up from ``since`` in a short task."""
        hello_id = self.hub.last_id
        assert hello_id is not None  # answer() refuses readers until the reader started
        # No await between reading hello_id and joining: every later event reaches this reader
        # either live or through its pending list, so nothing falls between replay and live.
        conn.transport.write(hello_frame(hello_id, conn.sse))
        self.audience.join(conn, opening.tabs)
        since = opening.since
        if since is None:
            self.hub.join_live(conn)
            return
        sub = Subscriber(conn, since)
        self.hub.start_catch_up(sub)
        catch_up = self._catch_up_or_close(sub, since, hello_id)
        task = asyncio.get_running_loop().create_task(catch_up, name="catch-up")
        self._catch_ups.add(task)
        task.add_done_callback(self._catch_ups.discard)

    def told(self, conn: Connection, text: bytes) -> None:
        """``{"type":"tabs","tabs":N}`` (1-1000): the page's leader tab now serves N tabs.
        Anything else a client sends is ignored."""
        if len(text) > 64:
            return
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict) or message.get("type") != "tabs":
            return
        raw = message.get("tabs")
        tabs = tabs_value(raw) if type(raw) is int else None  # a JSON integer, not "5" or true
        if tabs is not None:
            self.audience.retab(conn, tabs)

    def forget(self, conn: Connection) -> None:
        self.gate.request_read(conn)  # closing (a bad request, say): no longer a handshake
        self.hub.remove(conn)
        self.audience.leave(conn)

    def lost(self, conn: Connection) -> None:
        self.hub.remove(conn)
        self.audience.leave(conn)
        if conn.address is not None:
            self.gate.lost(conn, conn.address)
            conn.address = None
        if self._all_gone is not None and self.wheel.count == 0:
            self._all_gone.set()

    # -- catching up ------------------------------------------------------------------------

    async def _catch_up_or_close(self, sub: Subscriber, since: EventId, hello_id: EventId) -> None:
        try:
            await self._catch_up(sub, since, hello_id)
        except ReaderGoneError:
            pass
        except RedisError as exc:
            # The client comes back with since (SSE: its Last-Event-ID).
            log.warning("replay failed, closing the stream: %s", exc)
            sub.reader.close(*REPLAY_FAILED)

    async def _catch_up(self, sub: Subscriber, since: EventId, hello_id: EventId) -> None:
        """Send events in (since, hello_id], then the pending ones, then go live.

        The range comes from the replay buffer when it holds it (the common case), else Redis.
        Nothing at or below ``since`` is ever sent: when ``since`` is ahead of this process's
        reader, the reader waits (counted, its events pending) until the stream passes it.
        """
        reader = sub.reader
        recent = self.replay.after(since, hello_id)
        if recent is not None:
            await write_frames(reader, _frames(recent, reader))
            floor = max(since, hello_id)
        else:
            async with self._redis_replays:
                floor = await self._catch_up_from_redis(sub, since, hello_id)
        sub.floor = floor
        while True:
            while sub.pending:
                event = sub.pending.pop(0)
                sub.pending_bytes -= len(event.text)
                if event.id > floor and reader.open:
                    reader.transport.write(reader.frame(event))
                    await reader.drain()
            if self.hub.last_id is not None and self.hub.last_id >= floor:
                break
            await self._reached_or_gone(reader, floor)
        if sub in self.hub.catching_up:  # not cut off meanwhile
            self.hub.finish_catch_up(sub)

    async def _reached_or_gone(self, reader: Reader, floor: EventId) -> None:
        """Wait until the stream reader passes ``floor``; ReaderGoneError if the client goes."""
        reached = asyncio.ensure_future(self.hub.reached(floor))
        closed = asyncio.ensure_future(reader.wait_closed())
        try:
            await asyncio.wait({reached, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reached.cancel()
            closed.cancel()
        if not reached.done() or reached.cancelled():
            raise ReaderGoneError

    async def _catch_up_from_redis(
        self, sub: Subscriber, since: EventId, hello_id: EventId
    ) -> EventId:
        """Send events in (since, hello_id] read from Redis (or a reset); return the floor.

        A read that fails with a connection error or a timeout is retried from the last event
        sent (see REPLAY_ATTEMPTS), so a moment's trouble reaching Redis costs the reader a
        pause rather than a reconnect.
        """
        assert self.client is not None
        reader = sub.reader
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.handshake_timeout
        sent: EventId | None = None  # the newest event read; None: reset not decided yet
        attempt = 1
        while True:
            try:
                if sent is None:
                    if await must_reset(self.client, since, hello_id):
                        # Older than the log keeps, or an id this stream never had: reload.
                        await write_frames(reader, [reset_frame(hello_id, reader.sse)])
                        return hello_id
                    sent = since
                async for chunk in events_between(self.client, sent, hello_id):
                    await write_frames(reader, _frames([Frames(e) for e in chunk], reader))
                    sent = chunk[-1].id
                return max(since, hello_id)
            except TRANSIENT as exc:
                pause = REPLAY_RETRY_S * 2 ** (attempt - 1)
                if attempt >= REPLAY_ATTEMPTS or loop.time() + pause >= give_up:
                    raise
                if not reader.open:
                    raise ReaderGoneError from exc
                log.warning(
                    "replay read failed, retrying: %s",
                    exc,
                    extra={"attempt": attempt, "peer": reader.peer},
                )
                attempt += 1
                await asyncio.sleep(pause)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> asyncio.Server:
        """Open Redis, start the reader, the timer wheel and the listener (port 0: any)."""
        self.client = async_client(self.redis_url, self.settings, block_ms=BLOCK_MS)
        self.reporter = AudienceReporter(
            self.client, self.audience, self.settings.audience_interval
        )
        self.reader = PushFeed(
            self.client, self.hub, self.replay, published=self.reporter.published
        ).consumer
        reader = self.reader
        gate = self.gate
        register_push_metrics(
            self.hub, lambda: (reader.connected, reader.reconnects), lambda: gate.handshaking
        )
        self._reader_task = asyncio.create_task(self.reader.run(), name="stream-reader")
        self._reporter_task = asyncio.create_task(self.reporter.run(), name="audience")
        self.wheel.start()
        wanted = self.settings.max_connections + self.settings.push_max_handshaking
        if wanted > self.gate.max_open:
            log.warning(
                "the descriptor limit (ulimit -n) allows fewer connections than "
                "LIVEFEED_MAX_CONNECTIONS + LIVEFEED_PUSH_MAX_HANDSHAKING; beyond it, "
                "the oldest handshakes are closed and then new connections",
                extra={"connections": self.gate.max_open, "wanted": wanted},
            )
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            factory(self),
            self.settings.host,
            self.settings.push_port,
            backlog=LISTEN_BACKLOG,
            reuse_address=True,
        )
        return self.server

    async def stop(self) -> None:
        """Stop listening, end every SSE stream and close every WebSocket with 1001 (waiting
        up to the close timeout for the clients to answer), then the reader and Redis."""
        self.stopping = True
        if self.server is not None:
            self.server.close()
        connections = [c for c in self.wheel.items() if isinstance(c, Connection)]
        if connections:
            self._all_gone = asyncio.Event()
            for conn in connections:
                conn.close(*GOING_AWAY)  # EventSource reconnects elsewhere with Last-Event-ID
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT + 1):  # not wait_for: see websub.run
                    await self._all_gone.wait()
            except TimeoutError:
                log.warning("some clients did not close in time", extra={"left": self.wheel.count})
        self.wheel.stop()
        self.gate.stop()
        for task in list(self._catch_ups):
            task.cancel()
        await asyncio.gather(*self._catch_ups, return_exceptions=True)
        await self.hub.close()
        if self._reporter_task is not None and self.reporter is not None:
            self._reporter_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter_task
            await self.reporter.stop()
        await stop_reader(self._reader_task)
        if self.client is not None:
            await self.client.aclose()
        if self.server is not None:
            await self.server.wait_closed()


async def serve_push(settings: Settings, redis_url: str) -> None:
    """Run the push service until SIGTERM or SIGINT."""
    tune_gc()  # shared/gc_tuning.py: full collections would walk every connection
    push = PushServer(settings, redis_url)
    server = await push.start()
    ports = sorted({sock.getsockname()[1] for sock in server.sockets})
    log.info("push listening", extra={"host": settings.host, "ports": ports})
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log.info("push shutting down: closing clients with 1001")
    await push.stop()
