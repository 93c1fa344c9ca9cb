"""The push service: ``WS /v1/stream`` with resume, plus health endpoints, on one port.

Close codes: 1001 going away (shutdown: reconnect elsewhere with ``since``), 1008 policy
(too slow), 1011 internal error. Refusals before the handshake are HTTP problem documents.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aredis
from redis.exceptions import RedisError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from services.push.floods import AddressCap, bound_send_buffer
from services.push.hub import Hub, Subscriber
from services.push.metrics import register_push_metrics
from services.push.reader import BLOCK_MS, StreamReader
from services.push.replay import ReplayBuffer, write_frames
from services.push.responses import json_response, metrics_response, problem_response
from shared.eventlog import events_between, must_reset, stop_reader
from shared.events import ZERO, Event, EventId, control_frame
from shared.models import label_filter, section_filter
from shared.redis_client import async_client
from shared.settings import Settings

log = logging.getLogger(__name__)

# Catch-ups that read Redis at once; the rest wait their turn instead of exhausting the
# client's connection pool (a resume storm used to close clients with 1011 "Too many connections").
REDIS_REPLAYS = 32
MAX_QUERY_FIELDS = 20


@dataclass(frozen=True)
class StreamQuery:
    """What a client asked for in ``/v1/stream?since=&section=&label=``."""

    since: EventId | None
    section: str | None
    label: str | None


class QueryError(ValueError):
    """A bad query parameter, with the parameter's name."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(reason)
        self.name = name
        self.reason = reason


def parse_query(query: str) -> StreamQuery:
    """Validate the stream's query string."""
    try:
        params = parse_qs(query, keep_blank_values=False, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError as exc:  # more fields than that: parse_qs refuses to go on
        raise QueryError("query", f"at most {MAX_QUERY_FIELDS} query parameters") from exc

    def one(name: str) -> str | None:
        values = params.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise QueryError(name, "must be given once")
        return values[0]

    since_raw, section_raw, label_raw = one("since"), one("section"), one("label")
    try:
        since = EventId.parse(since_raw) if since_raw else None
    except ValueError as exc:
        raise QueryError("since", str(exc)) from exc
    try:
        section = section_filter(section_raw)
    except ValueError as exc:
        raise QueryError("section", str(exc)) from exc
    try:
        label = label_filter(label_raw)
    except ValueError as exc:
        raise QueryError("label", str(exc)) from exc
    return StreamQuery(since, section, label)


RESET = '{"type":"reset"}'


def _wires(events: list[Event], sub: Subscriber) -> list[bytes]:
    """The frames a subscriber receives for ``events`` (its filter decides, see Event)."""
    seen = (event.for_filter(sub.section, sub.label) for event in events)
    return [event.wire for event in seen if event is not None]


class PushServer:
    """One push process: a hub, one stream reader and the WebSocket server."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.hub = Hub(settings.client_buffer_bytes)
        self.per_address = AddressCap(settings.max_connections_per_ip, self.hub.stats)
        self.replay = ReplayBuffer(settings.stream_maxlen)
        self._redis_replays = asyncio.Semaphore(REDIS_REPLAYS)
        self.client: aredis.Redis | None = None
        self.reader: StreamReader | None = None
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
        if url.path != "/v1/stream":
            return problem_response(404, "no such endpoint; the stream is at /v1/stream")
        try:
            parse_query(url.query)
        except QueryError as exc:
            detail = f"{exc.name}: {exc.reason}"
            return problem_response(400, detail, errors=[{"field": exc.name, "reason": detail}])
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") not in self.settings.origins:
            detail = "this origin may not open the stream"
            return problem_response(403, detail, errors=[{"field": "origin", "reason": detail}])
        if self.reader is None or not self.reader.ready.is_set():
            return problem_response(503, "the stream is starting; retry shortly")
        if self.hub.clients >= self.settings.max_connections:
            self.hub.stats.refused += 1
            return problem_response(503, "this push process is full; retry shortly or use another")
        bound_send_buffer(conn, self.settings.client_buffer_bytes)
        return self.per_address.admit(conn)

    # -- WebSocket side -------------------------------------------------------------------

    async def handle(self, conn: ServerConnection) -> None:
        """Say hello, replay what the client missed, then keep it in its live group."""
        assert conn.request is not None
        query = parse_query(urlsplit(conn.request.path).query)
        hello_id = self.hub.last_id
        assert hello_id is not None  # process_request refuses clients until the reader started
        sub: Subscriber | None = Subscriber(conn, query.section, query.label, query.since or ZERO)
        # No await between reading hello_id and joining: every later event reaches this client
        # either live or through its pending list, so nothing falls between replay and live.
        conn.transport.write(control_frame(f'{{"type":"hello","event_id":"{hello_id}"}}'))
        try:
            if query.since is None:
                self.hub.join_live(conn, (query.section, query.label))
                sub = None
            else:
                assert sub is not None
                self.hub.start_catch_up(sub)
                await self._catch_up(sub, query.since, hello_id)
                sub = None
            await conn.wait_closed()
        except ConnectionClosed:
            pass
        except RedisError as exc:
            log.warning("replay failed, closing with 1011: %s", exc)
            await conn.close(1011, "replay unavailable: reconnect with since")
        finally:
            self.hub.remove(conn, (query.section, query.label), sub)

    async def _catch_up(self, sub: Subscriber, since: EventId, hello_id: EventId) -> None:
        """Send events in (since, hello_id], then the pending ones, then go live.

        The range comes from the replay buffer when it holds it (the common case), else Redis.
        Nothing at or below ``since`` is ever sent: when ``since`` is ahead of this process's
        reader, the client waits (counted, its events pending) until the reader passes it.
        """
        recent = self.replay.after(since, hello_id)
        if recent is not None:
            await write_frames(sub.conn, _wires(recent, sub))
            floor = max(since, hello_id)
        else:
            async with self._redis_replays:
                floor = await self._catch_up_from_redis(sub, since, hello_id)
        sub.floor = floor
        while True:
            while sub.pending:
                event = sub.pending.pop(0)
                sub.pending_bytes -= len(event.wire)
                if event.id > floor:
                    await sub.conn.send(event.text.decode())
            if self.hub.last_id is not None and self.hub.last_id >= floor:
                break
            await self._reached_or_closed(sub.conn, floor)
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
        if await must_reset(self.client, since, hello_id):
            # Older than the log keeps, or an id this stream never had: reload the timeline.
            await sub.conn.send(RESET)
            return hello_id
        async for chunk in events_between(self.client, since, hello_id):
            await write_frames(sub.conn, _wires(chunk, sub))
        return max(since, hello_id)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> Server:
        """Open Redis, start the reader and the server (port 0 picks a free port)."""
        self.client = async_client(self.redis_url, self.settings, block_ms=BLOCK_MS)
        self.reader = StreamReader(self.client, self.hub, self.replay)
        reader = self.reader
        register_push_metrics(self.hub, lambda: (reader.connected, reader.reconnects))
        self._reader_task = asyncio.create_task(self.reader.run(), name="stream-reader")
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
        """Close every client with 1001 (going away), then the reader and Redis."""
        if self.server is not None:
            self.server.close(close_connections=True)
            await self.server.wait_closed()
        await self.hub.close()
        await stop_reader(self._reader_task)
        if self.client is not None:
            await self.client.aclose()


async def serve_push(settings: Settings, redis_url: str) -> None:
    """Run the push service until SIGTERM or SIGINT."""
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
