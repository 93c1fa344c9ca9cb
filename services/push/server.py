"""The push service: ``WS /v1/stream`` and ``GET /v1/events`` (SSE) with resume, plus health
endpoints, on one port, both transports served by one hub (hub.py) from one stream reader.

Close codes and the fixed messages are in protocol.py. Refusals before the handshake (or
before an event stream starts) are HTTP problem documents.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from urllib.parse import urlsplit

import redis.asyncio as aredis
from redis.exceptions import RedisError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from services.push import sse
from services.push.floods import AddressCap, bound_send_buffer
from services.push.hub import Hub, Reader, Subscriber
from services.push.metrics import register_push_metrics
from services.push.protocol import REPLAY_FAILED, hello_frame, reset_frame
from services.push.query import QueryError, parse_query
from services.push.reader import PushFeed
from services.push.replay import ReplayBuffer, write_frames
from services.push.responses import json_response, metrics_response, problem_response
from shared.eventlog import events_between, must_reset, stop_reader
from shared.events import Event, EventId
from shared.redis_client import async_client
from shared.settings import Settings
from shared.stream import BLOCK_MS, StreamConsumer

log = logging.getLogger(__name__)

# Catch-ups that read Redis at once; the rest wait their turn instead of exhausting the
# client's connection pool (a resume storm used to close clients with 1011 "Too many connections").
REDIS_REPLAYS = 32
STREAM_PATH = "/v1/stream"


def _frames(events: list[Event], reader: Reader) -> list[bytes]:
    """The frames a reader receives for ``events`` (its filter decides, see Event)."""
    seen = (event.for_filter(*reader.key) for event in events)
    return [reader.frame(event) for event in seen if event is not None]


class PushServer:
    """One push process: a hub, one stream reader and the WebSocket server."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.hub = Hub(settings.client_buffer_bytes)
        self.per_address = AddressCap(settings.max_connections_per_ip, self.hub.stats)
        self.replay = ReplayBuffer(settings.stream_maxlen)
        self._redis_replays = asyncio.Semaphore(REDIS_REPLAYS)
        self._sse_tasks: set[asyncio.Task[None]] = set()
        self.keepalive = sse.Keepalive(self.hub, settings.ping_interval)
        self.stopping = False
        self.client: aredis.Redis | None = None
        self.reader: StreamConsumer | None = None
        self.server: Server | None = None

    # -- HTTP side of the handshake ------------------------------------------------------

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Health endpoints, and every refusal (bad query, origin, capacity) before upgrading."""
        url = urlsplit(request.path)
        if url.path == "/healthz":
            return json_response(200, {"status": "ok", "clients": self.hub.clients})
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
        if is_sse and request.method != "GET":  # a WebSocket handshake is GET by definition
            return problem_response(405, "the event stream is read with GET")
        try:
            query = parse_query(url.query)
            since = sse.since_of(request, query.since) if is_sse else query.since
        except QueryError as exc:
            detail = f"{exc.name}: {exc.reason}"
            return problem_response(400, detail, errors=[{"field": exc.name, "reason": detail}])
        origin = request.headers.get("Origin")
        allowed = origin.rstrip("/") if origin is not None else None
        if allowed is not None and allowed not in self.settings.origins:
            detail = "this origin may not open the stream"
            return problem_response(403, detail, errors=[{"field": "origin", "reason": detail}])
        if self.reader is None or not self.reader.ready.is_set() or self.stopping:
            return problem_response(503, "the stream is starting; retry shortly")
        if self.hub.clients >= self.settings.max_connections:
            self.hub.stats.refused[kind] += 1
            return problem_response(503, "this push process is full; retry shortly or use another")
        bound_send_buffer(conn, self.settings.client_buffer_bytes)
        refused = self.per_address.admit(conn, kind)
        if refused is not None or not is_sse:
            return refused
        reader = sse.take_over(conn, (query.section, query.label), sse.response_head(allowed))
        self._start_sse(reader, since)
        return sse.handed_over()

    # -- both transports ------------------------------------------------------------------

    def _begin(self, reader: Reader, since: EventId | None) -> tuple[Subscriber | None, EventId]:
        """Say hello and join: live at once, or catching up from ``since`` (returned)."""
        hello_id = self.hub.last_id
        assert hello_id is not None  # process_request refuses readers until the reader started
        # No await between reading hello_id and joining: every later event reaches this reader
        # either live or through its pending list, so nothing falls between replay and live.
        reader.transport.write(hello_frame(hello_id, reader.sse))
        if since is None:
            self.hub.join_live(reader)
            return None, hello_id
        sub = Subscriber(reader, since)
        self.hub.start_catch_up(sub)
        return sub, hello_id

    def _start_sse(self, reader: Reader, since: EventId | None) -> None:
        sub, hello_id = self._begin(reader, since)
        sse.on_lost(reader.conn, lambda: self.hub.remove(reader, sub))
        if sub is not None and since is not None:
            task = asyncio.get_running_loop().create_task(self._sse_catch_up(sub, since, hello_id))
            self._sse_tasks.add(task)
            task.add_done_callback(self._sse_tasks.discard)

    async def _sse_catch_up(self, sub: Subscriber, since: EventId, hello_id: EventId) -> None:
        try:
            await self._catch_up(sub, since, hello_id)
        except ConnectionClosed:
            pass
        except RedisError as exc:
            # End the stream cleanly: the client comes back with its Last-Event-ID.
            log.warning("SSE replay failed, ending the stream: %s", exc)
            sub.reader.transport.close()

    async def handle(self, conn: ServerConnection) -> None:
        """A WebSocket: hello, replay what it missed, then keep it in its live group."""
        assert conn.request is not None
        query = parse_query(urlsplit(conn.request.path).query)
        reader = Reader(conn, conn.transport, (query.section, query.label))
        sub: Subscriber | None = None
        try:
            sub, hello_id = self._begin(reader, query.since)
            if sub is not None and query.since is not None:
                await self._catch_up(sub, query.since, hello_id)
            await conn.wait_closed()
        except ConnectionClosed:
            pass
        except RedisError as exc:
            log.warning("replay failed, closing with 1011: %s", exc)
            await conn.close(*REPLAY_FAILED)
        finally:
            self.hub.remove(reader, sub)

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
                    await reader.conn.drain()
            if self.hub.last_id is not None and self.hub.last_id >= floor:
                break
            await self._reached_or_closed(reader.conn, floor)
        if sub in self.hub.catching_up:  # not cut off meanwhile
            self.hub.finish_catch_up(sub)

    async def _reached_or_closed(self, conn: ServerConnection, floor: EventId) -> None:
        """Wait until the reader passes ``floor``; raise ConnectionClosed if the client goes."""
        reached = asyncio.ensure_future(self.hub.reached(floor))
        closed = asyncio.ensure_future(conn.wait_closed())
        try:
            await asyncio.wait({reached, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reached.cancel()
            closed.cancel()
        if not reached.done() or reached.cancelled():
            raise ConnectionClosed(None, None)

    async def _catch_up_from_redis(
        self, sub: Subscriber, since: EventId, hello_id: EventId
    ) -> EventId:
        """Send events in (since, hello_id] read from Redis (or a reset); return the floor."""
        assert self.client is not None
        reader = sub.reader
        if await must_reset(self.client, since, hello_id):
            # Older than the log keeps, or an id this stream never had: reload the timeline.
            await write_frames(reader, [reset_frame(hello_id, reader.sse)])
            return hello_id
        async for chunk in events_between(self.client, since, hello_id):
            await write_frames(reader, _frames(chunk, reader))
        return max(since, hello_id)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> Server:
        """Open Redis, start the reader and the server (port 0 picks a free port)."""
        self.client = async_client(self.redis_url, self.settings, block_ms=BLOCK_MS)
        self.reader = PushFeed(self.client, self.hub, self.replay).consumer
        reader = self.reader
        register_push_metrics(self.hub, lambda: (reader.connected, reader.reconnects))
        self._reader_task = asyncio.create_task(self.reader.run(), name="stream-reader")
        self.keepalive.start()
        self.server = await serve(
            self.handle,
            self.settings.host,
            self.settings.push_port,
            process_request=self.process_request,
            compression=None,  # compression triples memory and doubles latency per client
            ping_interval=self.settings.ping_interval,
            ping_timeout=self.settings.ping_interval,
            close_timeout=5,
            max_size=4096,  # clients only listen
            write_limit=self.settings.client_buffer_bytes,
            server_header=None,
            backlog=4096,
        )
        return self.server

    async def stop(self) -> None:
        """End every SSE stream and close every WebSocket with 1001, then the reader and Redis."""
        self.stopping = True
        for reader in self.hub.all_readers():
            if reader.sse:
                reader.transport.close()  # EventSource reconnects elsewhere with Last-Event-ID
        await self.keepalive.stop()
        if self.server is not None:
            self.server.close(close_connections=True)
            await self.server.wait_closed()
        await self.hub.close()
        await stop_reader(self._reader_task)
        if self.client is not None:
            await self.client.aclose()


# The cyclic garbage collector's thresholds for a push process. With thousands of connections,
# every full collection walks every connection's objects (tens of ms at 5,000 readers), and
# Python's defaults (700, 10, 10) run one every few seconds under fan-out. At 5,000 readers and
# 10 headlines/s (bench/fanout, this 2-core machine) they put p99 at 270-300 ms against the
# floor's ~110 ms; with these, 116 ms (with the collector off: 104 ms). Garbage in reference
# cycles lives a little longer: at most one young generation of 20,000 objects.
GC_THRESHOLDS = (20_000, 50, 50)


async def serve_push(settings: Settings, redis_url: str) -> None:
    """Run the push service until SIGTERM or SIGINT."""
    gc.set_threshold(*GC_THRESHOLDS)
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
