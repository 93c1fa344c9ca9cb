"""``GET /v1/events``: the event stream as Server-Sent Events, served by the feed service.

The push service is the ``websockets`` library, which answers plain HTTP only with complete
responses, so it cannot stream ``text/event-stream``; the feed service (Starlette) does.

One ``XREAD BLOCK`` reader task per feed process fans each event out to every connected SSE
client through a small queue; the reader lets the responses write between events, so a client
that reads keeps up with any batch. A client whose unsent bytes (queued plus the transport's
buffer) pass ``LIVEFEED_CLIENT_BUFFER_BYTES`` does not read: its connection is aborted (really
closed, whatever sits in the socket) and it reconnects with ``Last-Event-ID``. Resume keeps
the push service's promise: the events in ``(since, current]`` are replayed from the stream
with ``XRANGE``, then live ones follow, none missing, none twice, none at or before ``since``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import redis.asyncio as aredis
from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from services.feed.params import label_param, section_param
from services.feed.transport import transport_of
from shared import keys
from shared.eventlog import events_between, must_reset, read_after, stop_reader
from shared.events import UPDATED, Event, EventId, newest_id
from shared.redis_client import async_client
from shared.settings import Settings
from shared.starlette_glue import ProblemError

log = logging.getLogger(__name__)

BLOCK_MS = 5_000
BATCH = 1_000
BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
SSE_CLIENTS = Gauge("livefeed_sse_clients", "SSE streams open on this feed process.")
SSE_DROPPED = Counter(
    "livefeed_sse_dropped", "SSE clients dropped because they fell too far behind (they resume)."
)
SSE_REFUSED = Counter("livefeed_sse_refused", "SSE requests refused: too many streams (503).")

# EventSource reconnects after ``retry`` ms: a random value per connection spreads a fleet of
# readers dropped at once (a deploy, a proxy restart) instead of bringing them back in lock-step.
RETRY_MS = (1_000, 5_000)


def sse_frame(event: Event) -> bytes:
    """One event as an SSE message: ``id``, ``event`` (its type) and one ``data`` line."""
    kind = event.text[9 : event.text.index(b'"', 9)]  # {"type":"<kind>",...
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (str(event.id).encode(), kind, event.text)


def control(kind: str, data: str, event_id: EventId | None = None) -> bytes:
    """A ``hello``/``reset`` message; ``reset`` carries the id the stream continues from."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {data}\n\n".encode()


@dataclass(eq=False)
class SseClient:
    """One connected SSE client: its filter and the events waiting to be written to it."""

    section: str | None
    label: str | None
    limit: int
    transport: asyncio.Transport | None  # uvicorn's, to abort a client that does not read
    queue: deque[tuple[EventId, bytes]] = field(default_factory=deque)
    queued_bytes: int = 0
    dropped: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def unsent(self) -> int:
        """Bytes queued here or waiting in the transport's buffer."""
        buffered = self.transport.get_write_buffer_size() if self.transport else 0
        return self.queued_bytes + buffered

    def offer(self, event_id: EventId, frame: bytes) -> bool:
        """Queue a frame; False when the client has fallen too far behind (drop it)."""
        if self.unsent + len(frame) > self.limit:
            return False
        self.queue.append((event_id, frame))
        self.queued_bytes += len(frame)
        self.wake.set()
        return True

    def take(self) -> list[tuple[EventId, bytes]]:
        """Everything queued so far, oldest first."""
        taken = list(self.queue)
        self.queue.clear()
        self.queued_bytes = 0
        self.wake.clear()
        return taken


@dataclass
class SseStats:
    """Counters for logs and health."""

    events: int = 0
    dropped: int = 0
    refused: int = 0


class SseHub:
    """The SSE clients of one feed process and the single reader that feeds them."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.clients: set[SseClient] = set()
        self.last_id: EventId | None = None  # newest event fanned out (None: not started)
        self.connected = False
        self.closing = False
        self.stats = SseStats()
        self.client: aredis.Redis | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start reading, on a Redis client of our own: XREAD BLOCK outlasts the API's timeout."""
        self.client = async_client(self.redis_url, self.settings, block_ms=BLOCK_MS)
        self._task = asyncio.create_task(self._run(), name="sse-reader")

    def close_all(self) -> None:
        """End every stream now (shutdown): clients reconnect elsewhere with Last-Event-ID."""
        self.closing = True
        self._end_all()

    def _end_all(self) -> None:
        for client in self.clients:
            client.dropped = True
            client.wake.set()

    async def stop(self) -> None:
        """Stop the reader and close Redis."""
        self.close_all()
        if self._task is not None:
            await stop_reader(self._task)
        if self.client is not None:
            await self.client.aclose()

    # -- the reader -----------------------------------------------------------------------

    async def _run(self) -> None:
        assert self.client is not None
        failures = 0
        while True:
            try:
                if self.last_id is None:
                    latest = await self.client.xrevrange(keys.EVENTS, "+", "-", count=1)
                    self.last_id = newest_id(latest)
                entries, lost = await read_after(self.client, self.last_id, BLOCK_MS, BATCH)
                if lost:
                    # Events were trimmed before this reader got them: every stream ends, and
                    # each client's Last-Event-ID then gets a reset. Go on from the newest.
                    log.warning("events were trimmed before the SSE reader got them")
                    latest = await self.client.xrevrange(keys.EVENTS, "+", "-", count=1)
                    self.last_id = newest_id(latest)  # never None: clients keep being served
                    self._end_all()
                    continue
            except (RedisError, OSError) as exc:
                if self.connected or failures == 0:
                    log.warning("SSE reader lost Redis, retrying: %s", exc)
                self.connected = False
                await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
                failures += 1
                continue
            self.connected = True
            failures = 0
            for raw_id, fields in entries:
                self._deliver(raw_id, fields)
                if self.clients:
                    # Let every response write what it was just given before the next event:
                    # a client that reads keeps up with a batch of any size.
                    await asyncio.sleep(0)

    def _deliver(self, raw_id: bytes, fields: dict[bytes, bytes]) -> None:
        try:
            event = Event.from_entry(raw_id, fields)
        except ValueError as exc:
            log.error("skipping unreadable event %r: %s", raw_id, exc)
            self.last_id = EventId.parse(raw_id)
            return
        self.publish(event)

    def publish(self, event: Event) -> None:
        """Queue ``event`` for every matching client (serialized once); drop the ones behind."""
        frame = sse_frame(event)
        left: bytes | None = None  # the frame for filters the article left, made when needed
        behind = []
        for client in self.clients:
            if event.matches(client.section, client.label):
                sent = frame
            elif event.kind == UPDATED and event.matched_before(client.section, client.label):
                sent = left = left or sse_frame(event.left())
            else:
                continue
            if not client.offer(event.id, sent):
                behind.append(client)
        for client in behind:
            self.drop(client)
        self.last_id = event.id
        self.stats.events += 1

    def drop(self, client: SseClient) -> None:
        """Stop feeding a client that does not keep up; its connection is closed at once.

        Ending the response is not enough: its writer may be blocked on a socket the client
        does not read, which would stay open with the kernel's buffer full. Aborting the
        transport frees both; the client reconnects with ``Last-Event-ID``.
        """
        self.clients.discard(client)
        client.dropped = True
        client.wake.set()
        if client.transport is not None:
            client.transport.abort()
        self.stats.dropped += 1
        SSE_DROPPED.inc()
        log.warning("dropped an SSE client that fell behind")

    # -- one response ---------------------------------------------------------------------

    async def stream(
        self,
        since: EventId | None,
        section: str | None,
        label: str | None,
        transport: asyncio.Transport | None = None,
    ) -> AsyncIterator[bytes]:
        """The body of one SSE response: hello, the replay after ``since``, then live events."""
        client = SseClient(section, label, self.settings.client_buffer_bytes, transport)
        hello_id = self.last_id
        assert hello_id is not None  # the endpoint refuses clients until the reader started
        # No await between reading hello_id and registering: every later event reaches this
        # client's queue, so nothing falls between the replay and the live part.
        self.clients.add(client)
        SSE_CLIENTS.inc()
        try:
            retry = random.randint(*RETRY_MS)  # noqa: S311 - jitter, not security
            yield f"retry: {retry}\n: livefeed events\n\n".encode()
            yield control("hello", f'{{"type":"hello","event_id":"{hello_id}"}}')
            floor = hello_id  # nothing at or below it is sent live
            if since is not None:
                assert self.client is not None
                try:
                    if await must_reset(self.client, since, hello_id):
                        # Older than the log keeps, or an id this stream never had.
                        yield control("reset", '{"type":"reset"}', hello_id)
                    else:
                        async for frame in self._replay(since, hello_id, client):
                            yield frame
                        # ``since`` may be ahead of this process's reader (taken from the
                        # timeline a moment earlier): events up to it are the client's already.
                        floor = max(since, hello_id)
                except RedisError as exc:
                    # End the stream cleanly: the client comes back with its Last-Event-ID.
                    log.warning("SSE replay failed, ending the stream: %s", exc)
                    return
            keepalive = self.settings.ping_interval
            while not client.dropped:
                try:
                    async with asyncio.timeout(keepalive):
                        await client.wake.wait()
                except TimeoutError:
                    # A comment line: keeps proxies from timing the stream out and lets the
                    # server notice a vanished client.
                    yield b": keep-alive\n\n"
                    continue
                frames = [frame for event_id, frame in client.take() if event_id > floor]
                if frames:
                    yield b"".join(frames)
        finally:
            self.clients.discard(client)
            SSE_CLIENTS.dec()

    async def _replay(
        self, since: EventId, hello_id: EventId, client: SseClient
    ) -> AsyncIterator[bytes]:
        """The frames of the events in ``(since, hello_id]`` this client's filter receives."""
        assert self.client is not None
        async for chunk in events_between(self.client, since, hello_id):
            seen = (e.for_filter(client.section, client.label) for e in chunk)
            frames = [sse_frame(e) for e in seen if e is not None]
            if frames:
                yield b"".join(frames)

    async def endpoint(self, request: Request) -> Response:
        """``GET /v1/events?since=&section=&label=`` (``Last-Event-ID`` wins over ``since``)."""
        query = request.query_params
        raw_since = request.headers.get("last-event-id") or query.get("since") or None
        field_name = "Last-Event-ID" if request.headers.get("last-event-id") else "since"
        try:
            since = EventId.parse(raw_since) if raw_since else None
        except ValueError as exc:
            raise ProblemError(
                400, f"{field_name}: {exc}", errors=[{"field": field_name, "reason": str(exc)}]
            ) from exc
        section, label = section_param(query), label_param(query)
        if self.last_id is None or self.closing:
            raise ProblemError(503, "the event stream is starting; retry shortly", headers=_RETRY)
        if len(self.clients) >= self.settings.max_connections:
            self.stats.refused += 1
            SSE_REFUSED.inc()
            raise ProblemError(503, "this feed process has too many streams", headers=_RETRY)
        return StreamingResponse(
            self.stream(since, section, label, transport_of(request.scope)),
            media_type="text/event-stream; charset=utf-8",
            headers={
                "Cache-Control": "no-store",
                # nginx and friends buffer responses by default, which would hold events back.
                "X-Accel-Buffering": "no",
            },
        )


_RETRY = {"Retry-After": "5"}
