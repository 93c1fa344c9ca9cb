"""The stream behind a GRIP proxy (Pushpin, Fastly Fanout), and the long-poll.

With ``LIVEFEED_GRIP`` on, the proxy holds every reader's connection and the feed service is
its origin: it answers each reader **once**, with the catch-up this reader is owed and the
instruction to hold it on its filter's channel (shared/grip.py), then forgets it. The
grip-publisher (services/grip/) publishes every later event to the channels.

- ``GET /v1/events``: the SSE stream (``since`` or ``Last-Event-ID``), held as a GRIP stream
  with the channel's last id (``prev-id``) and a next link: a proxy that missed an item asks
  that link, with ``Grip-Last``, and gets what it missed.
- ``POST /v1/stream``: WebSocket-over-HTTP. ``OPEN`` is answered with the subscription, ``hello``
  and the catch-up; the origin never holds the socket.
- ``GET /v1/updates?since=``: the long-poll. News after ``since`` is answered at once; else the
  proxy holds the request on the channel until an event is published there or LONG_POLL_S pass.
  Without GRIP the feed holds it itself (woken by its stream consumer), so the endpoint works
  either way: ``{"event_id": <poll since this next>, "events": [<stream messages>]}``.

What a reader receives is what push sends (shared/frames.py): the same messages, the same
``reset`` when ``since`` is older than the log, never an event at or before ``since``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

import redis.asyncio as aredis
from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shared import grip, keys
from shared.bodies import read_body
from shared.eventlog import events_between, must_reset
from shared.events import ZERO, Entry, Event, EventId, FilterKey, newest_id
from shared.frames import (
    RESET_TEXT,
    SSE_HEADERS,
    hello_text,
    sse_frame,
    sse_hello,
    sse_preamble,
    sse_reset,
    updates_body,
)
from shared.origins import STREAM_ORIGIN_REFUSED, origin_allowed
from shared.settings import Settings
from shared.starlette_glue import ProblemError
from shared.stream_query import QueryError, StreamQuery, parse_last_event_id, parse_query

log = logging.getLogger(__name__)

GRIP_ANSWERS = Counter(
    "livefeed_grip_answers",
    "Readers answered for a GRIP proxy, by transport (sse, ws, long-poll) and kind (open: a "
    "new reader; recover: the proxy asking again after a missed item; news; hold).",
    ["transport", "kind"],
)
for _transport, _kind in (
    ("sse", "open"),
    ("sse", "recover"),
    ("ws", "open"),
    ("long-poll", "hold"),
    ("long-poll", "news"),
):
    GRIP_ANSWERS.labels(_transport, _kind)  # exported from the start, at 0
LONG_POLLS_HELD = Gauge(
    "livefeed_long_polls_held",
    "Long-polls (GET /v1/updates) this feed process holds itself (without a GRIP proxy).",
)
_T = TypeVar("_T")
HELD_POLLS_MAX = 1_000  # long-polls one feed process holds itself (no GRIP), then 503


@dataclass(frozen=True)
class CatchUp:
    """What a reader is owed when it arrives, and where its channel stands."""

    newest: EventId  # the newest event considered: hello's event_id, the next since
    events: list[Event] | None  # its events after since, for its filter; None: reset
    prev_id: EventId  # the channel's last event at or before ``newest`` (its prev-id)


class GripOrigin:
    """The GRIP answers (``LIVEFEED_GRIP``) and the long-poll."""

    def __init__(self, settings: Settings, redis: Callable[[], aredis.Redis]) -> None:
        self.settings = settings
        self.redis = redis
        self.news = asyncio.Event()  # set when the feed's stream consumer delivers events
        self.held = 0

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [Route("/v1/updates", self.updates, methods=["GET"])]
        if self.settings.grip:
            routes += [
                Route("/v1/events", self.events, methods=["GET"]),
                Route("/v1/stream", self.stream, methods=["POST"]),
            ]
        return routes

    def deliver(self, entries: list[Entry]) -> None:
        """The feed's stream consumer read events: wake the held long-polls."""
        if entries:
            self.news.set()
            self.news = asyncio.Event()

    # -- the answers --------------------------------------------------------------------------

    async def events(self, request: Request) -> Response:
        """``GET /v1/events`` for the proxy: preamble, hello and catch-up, held on the channel."""
        self._check_signature(request)
        origin = self._origin(request)
        last = grip.last_ids(request.headers.getlist(grip.LAST_HEADER))
        header = _parse(lambda: parse_last_event_id(request.headers.get("Last-Event-ID")))
        query = self._query(request, read_since=header is None)
        resume = header if header is not None else query.since
        channel = grip.channel_name(_key(query))
        recovering = channel in last  # the proxy asks the next link: it missed an item
        if recovering:
            resume = max(resume or ZERO, last[channel])
        catch_up = await self._catch_up(query, resume)
        body = bytearray()
        if not recovering:
            body += sse_preamble() + sse_hello(catch_up.newest)
        if catch_up.events is None:
            body += sse_reset(catch_up.newest)
        else:
            for event in catch_up.events:
                body += sse_frame(event)
        next_link = "/v1/events?" + _query_string(query, catch_up.newest)
        headers = {
            **SSE_HEADERS,
            **grip.stream_hold(channel, catch_up.prev_id, next_link),
            **_cors(origin),
        }
        GRIP_ANSWERS.labels("sse", "recover" if recovering else "open").inc()
        return Response(bytes(body), headers=headers)

    async def stream(self, request: Request) -> Response:
        """``POST /v1/stream``: WebSocket-over-HTTP events from the proxy."""
        self._check_signature(request)
        self._origin(request)
        if request.headers.get("content-type", "").split(";")[0].strip() != grip.WS_EVENTS_TYPE:
            raise _problem(415, "content-type", f"WebSocket-over-HTTP is {grip.WS_EVENTS_TYPE}")
        try:
            received = grip.ws_events(await read_body(request, grip.WS_BODY_MAX))
        except ValueError as exc:
            raise _problem(400, "body", str(exc)) from exc
        answer: list[grip.WsEvent] = []
        for event in received:
            if event.type == "OPEN":
                answer += await self._open(request)
            elif event.type == "CLOSE":  # the reader closes: close back with its code
                answer.append(grip.WsEvent("CLOSE", event.content))
            # TEXT (a page's "tabs" report), PING, DISCONNECT: nothing to answer.
        headers = {
            "Content-Type": grip.WS_EVENTS_TYPE,
            "Sec-WebSocket-Extensions": grip.WS_EXTENSION,
        }
        return Response(grip.ws_body(answer), headers=headers)

    async def _open(self, request: Request) -> list[grip.WsEvent]:
        query = self._query(request, read_since=True)
        catch_up = await self._catch_up(query, query.since)
        channel = grip.channel_name(_key(query))
        answer = [
            grip.WsEvent("OPEN"),
            grip.ws_subscribe(channel),
            grip.ws_text(hello_text(catch_up.newest).encode()),
        ]
        if catch_up.events is None:
            answer.append(grip.ws_text(RESET_TEXT.encode()))
        else:
            answer += [grip.ws_text(event.text) for event in catch_up.events]
        GRIP_ANSWERS.labels("ws", "open").inc()
        return answer

    async def updates(self, request: Request) -> Response:
        """``GET /v1/updates?since=``: the news at once, else held (by the proxy, or here)."""
        # Through the proxy the proxy holds it (its signature checked); a reader that came
        # straight here (no GRIP headers: nginx's port, a curl) is held here, as without GRIP.
        proxied = self.settings.grip and grip.via_proxy(request.headers)
        if proxied:
            self._check_signature(request)
        origin = self._origin(request)
        query = self._query(request, read_since=True)
        catch_up = await self._catch_up(query, query.since, for_proxy=proxied)
        headers = {"Cache-Control": "no-store", **_cors(origin)}
        nothing_new = query.since is not None and catch_up.events == []
        if nothing_new and proxied:
            # The proxy holds it: the first event published on the channel is the answer.
            channel = grip.channel_name(_key(query))
            headers.update(grip.response_hold(channel, catch_up.prev_id))
            GRIP_ANSWERS.labels("long-poll", "hold").inc()
        elif nothing_new:
            catch_up = await self._wait_for_news(query, catch_up)
        elif proxied and query.since is not None and catch_up.events:
            GRIP_ANSWERS.labels("long-poll", "news").inc()
        return Response(_updates(catch_up), media_type="application/json", headers=headers)

    async def _wait_for_news(self, query: StreamQuery, catch_up: CatchUp) -> CatchUp:
        """Without a GRIP proxy: hold the poll here until the stream brings events (then read
        again: they may not be this reader's) or LONG_POLL_S pass."""
        if self.held >= HELD_POLLS_MAX:
            raise ProblemError(503, "too many long-polls held; retry", headers={"Retry-After": "5"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grip.LONG_POLL_S
        self.held += 1
        LONG_POLLS_HELD.inc()
        try:
            while catch_up.events == []:
                # Newer than any event the read below could have missed: the stream consumer
                # replaces ``news`` when it delivers, so an event between the read and the wait
                # has already set this one.
                news = self.news
                catch_up = await self._catch_up(query, query.since)
                if catch_up.events != []:
                    break
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(news.wait(), left)
                except TimeoutError:
                    break
        finally:
            self.held -= 1
            LONG_POLLS_HELD.dec()
        return catch_up

    # -- the catch-up -------------------------------------------------------------------------

    async def _catch_up(
        self, query: StreamQuery, since: EventId | None, *, for_proxy: bool = True
    ) -> CatchUp:
        """The reader's events after ``since`` (or ``reset``) up to the newest event, and, for
        an answer to the proxy, the channel's ``prev-id``: its last event at or before the
        newest.

        The publisher's position and the channel's last published id are read in the same
        transaction as the newest event (the publisher writes both in one, too), so the
        channel's id is exact up to that position; the events after it, up to the newest,
        are read here. The channel is marked in use, so the publisher publishes on it.
        """
        key = _key(query)
        channel = grip.channel_name(key)
        client = self.redis()
        try:
            async with client.pipeline(transaction=True) as pipe:
                if for_proxy:
                    pipe.hget(keys.GRIP_LAST_IDS, channel)
                    pipe.get(keys.GRIP_POSITION)
                    pipe.zadd(keys.GRIP_CHANNELS, {channel: int(time.time() * 1000)})
                pipe.xrevrange(keys.EVENTS, "+", "-", count=1)
                replies = await pipe.execute()
            newest = newest_id(replies[-1])
            # None: no publisher has run (or a reader held here: no prev-id to find)
            position = _id_or_none(replies[1]) if for_proxy else None
            reset = since is not None and await must_reset(client, since, newest)
            owed = since if since is not None and not reset else None
            # The channel's last event: exact up to the publisher's position, then read here.
            prev = (_id_or_none(replies[0]) or ZERO) if position is not None else ZERO
            starts = [p for p in (owed, position) if p is not None]
            events: list[Event] = []
            if starts:
                async for chunk in events_between(client, min(starts), newest):
                    for event in chunk:
                        seen = event.for_filter(*key)
                        if seen is None:
                            continue
                        if position is None or event.id > position:
                            prev = event.id
                        if owed is not None and event.id > owed:
                            events.append(seen)
        except RedisError as exc:
            log.warning("catch-up for a GRIP reader failed: %s", exc)
            raise ProblemError(
                503, "the event log is unavailable; retry", headers={"Retry-After": "2"}
            ) from exc
        return CatchUp(newest, None if reset else events, prev)

    # -- checks -------------------------------------------------------------------------------

    def _check_signature(self, request: Request) -> None:
        key, iss = self.settings.grip_key, self.settings.grip_iss
        signature = request.headers.get(grip.SIG_HEADER)
        if key is not None and not grip.signature_valid(signature, key, iss):
            raise _problem(
                403, grip.SIG_HEADER, "requests must come through the GRIP proxy, signed"
            )

    def _origin(self, request: Request) -> str | None:
        origin = request.headers.get("origin")
        if origin is not None and not origin_allowed(origin, self.settings.origins):
            raise _problem(403, "origin", STREAM_ORIGIN_REFUSED)
        return origin

    @staticmethod
    def _query(request: Request, *, read_since: bool) -> StreamQuery:
        return _parse(lambda: parse_query(request.url.query, read_since=read_since))


def _parse(read: Callable[[], _T]) -> _T:
    """A stream query read, its QueryError answered as a problem naming the field."""
    try:
        return read()
    except QueryError as exc:
        raise ProblemError(400, exc.detail, errors=exc.errors) from exc


def _problem(status: int, name: str, detail: str) -> ProblemError:
    return ProblemError(status, detail, errors=[{"field": name, "reason": detail}])


def _key(query: StreamQuery) -> FilterKey:
    return query.section, query.label, query.lang


def _id_or_none(raw: object) -> EventId | None:
    return EventId.parse(raw) if isinstance(raw, bytes) else None


def _cors(origin: str | None) -> dict[str, str]:
    if origin is None:
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _query_string(query: StreamQuery, since: EventId) -> str:
    pairs: Iterable[tuple[str, str | None]] = (
        ("section", query.section),
        ("label", query.label),
        ("lang", query.lang),
        ("since", str(since)),
    )
    return urlencode([(name, value) for name, value in pairs if value is not None])


def _updates(catch_up: CatchUp) -> bytes:
    if catch_up.events is None:
        return updates_body(catch_up.newest, [RESET_TEXT.encode()])
    return updates_body(catch_up.newest, [event.text for event in catch_up.events])
