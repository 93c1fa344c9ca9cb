"""Rendered reads kept in memory: the page, timeline, fragment, feeds and articles at the floor.

Every cacheable view is rendered once per state of the timeline and then served from these
bytes (with its ETag and 304s) until the state changes. The state is named by a *stamp*: the
newest event id of ``lf:events``, ``lf:changed`` (the last change no event announces) and the
size of ``lf:timeline`` (so that a store emptied by hand is not served from memory).

Read-after-event is strict: a request never gets a view older than an event that was applied
before the request arrived (a reader who saw event E over the stream, then GETs the timeline,
always sees E). Each request waits for a stamp read from Redis that *started after it
arrived*; all requests arriving while one stamp read is in flight share the next one, so under
load one tiny Redis read serves hundreds of requests (``Fence``). An entry whose stamp differs is
rendered again, once, however many requests want it (single flight).

The feed's stream consumer (``shared.stream.StreamConsumer``) drops every entry as events
arrive, so memory holds only current views. Items leave the window at read time, announced by
no event: a view expires when the next item of its index ages out (``read.lua`` says when), so
it never shows one past its time; and after ``TTL_S`` whatever happens.

Memory is bounded in bytes, not entries (``LIVEFEED_VIEW_CACHE_BYTES`` per process): each entry
counts its body, its headers, its key and ``ENTRY_OVERHEAD`` for the objects around them; the
least recently used go first, and a view bigger than the whole bound is served but not kept.
Keys are normalised so that hostile query strings name few distinct entries: a ``before`` cursor
that gives the first page (at or beyond the newest item) is no cursor at all, one below every
item is the oldest item's, numbers are parsed before they enter a key, and free text (the
embed's ``more-href``) enters only as a short digest.

An entry's gzip copy (caching.py, compression.py) is made once, for the first request that
accepts gzip, kept in the entry and counted in its size from then on: a view is compressed once
per state, however many readers get it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError, NoScriptError, RedisError, TimeoutError
from starlette.requests import Request
from starlette.responses import Response

from services.feed.caching import Rendered, respond
from services.feed.metrics import VIEW_CACHE_BYTES, VIEW_CACHE_ENTRIES, VIEW_HITS, VIEW_MISSES
from services.feed.params import store_down
from services.feed.store import Cursor
from shared import keys
from shared.events import Entry

TTL_S = 60.0  # the longest an entry is served, whatever else
# What an entry costs besides the bytes of its body, headers and key: the entry, the rendered
# view and its header dict, the key tuple and the ordered dict's node (tracemalloc: ~1.2 KB for
# a timeline view with its five headers, their strings included; rounded up).
ENTRY_OVERHEAD = 2048

# The timeline's state: the newest event id, the last unannounced change and the timeline's
# size (which also moves when someone empties the store by hand), and its newest and oldest
# items (every index is a subset of the timeline: a cursor beyond its newest item gives any
# index's first page, one at or below its oldest item an empty page), in one call.
STAMP_LUA = """
local latest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0-0'
if #latest > 0 then id = latest[1][1] end
local newest = redis.call('ZREVRANGE', KEYS[3], 0, 0, 'WITHSCORES')
local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
return {id, (redis.call('GET', KEYS[2]) or '') .. '/' .. redis.call('ZCARD', KEYS[3]),
  newest[1] or '', newest[2] or '', oldest[1] or '', oldest[2] or ''}
"""

STAMP_KEYS = (keys.EVENTS, keys.CHANGED, keys.TIMELINE)


@dataclass(frozen=True)
class Stamp:
    """The timeline's state as one read saw it: entries rendered at another state are old."""

    event_id: bytes
    changed: bytes  # the last unannounced change and the timeline's size
    newest: Cursor | None  # the timeline's newest item (None: empty)
    oldest: Cursor | None

    def page_cursor(self, before: Cursor | None) -> Cursor | None:
        """``before`` as the page it gives names it: None for the first page, the oldest
        item's cursor for the empty page past the end, else itself.

        A page shows the items below its cursor in (score, id) order (``read.lua``: a lower
        score, or the same score and a lower id, in byte order: ids are ASCII).
        """
        if before is None or self.newest is None or self.oldest is None:
            return None  # an empty timeline: every cursor gives the (empty) first page
        position = (before.score, before.article_id)
        if position > (self.newest.score, self.newest.article_id):
            return None
        if position <= (self.oldest.score, self.oldest.article_id):
            return self.oldest
        return before

    @classmethod
    def parse(cls, reply: list[Any]) -> Stamp:
        """From ``STAMP_LUA``'s reply."""
        event_id, changed, newest_id, newest_score, oldest_id, oldest_score = map(_bytes, reply)
        return cls(
            event_id, changed, _cursor(newest_score, newest_id), _cursor(oldest_score, oldest_id)
        )


def _cursor(score: bytes, article_id: bytes) -> Cursor | None:
    return Cursor(int(float(score)), article_id.decode()) if article_id else None


class Fence:
    """The timeline's current stamp, read at most once per batch of waiting requests.

    ``stamp()`` resolves with a value read by a Redis call that began after it was called:
    a request joins the *next* read, never one already in flight. The reads go over one
    connection of their own with the command packed once (EVALSHA of ``STAMP_LUA``): a read
    costs a third of a full client call, and it is paid once per batch, not per request.
    """

    def __init__(self, client: aredis.Redis) -> None:
        self.client = client
        self._script = client.register_script(STAMP_LUA)
        self._conn: AbstractConnection | None = None
        self._packed: Any = None
        self._waiting: list[asyncio.Future[Stamp]] = []  # for the next read
        self._running = False
        self._task: asyncio.Task[None] | None = None

    async def stamp(self) -> Stamp:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Stamp] = loop.create_future()
        self._waiting.append(future)
        if not self._running:
            self._running = True
            self._task = loop.create_task(self._run())
        return await future

    async def _read(self) -> Stamp:
        conn = self._conn
        if conn is None:
            conn = await self.client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
            assert isinstance(conn, AbstractConnection)
            self._conn = conn
            self._packed = conn.pack_command(
                "EVALSHA", self._script.sha, len(STAMP_KEYS), *STAMP_KEYS
            )
        try:
            await conn.send_packed_command(self._packed, check_health=False)
            reply = await conn.read_response()
        except NoScriptError:  # Redis restarted without its scripts: load it, then ask again
            await self.client.script_load(STAMP_LUA)
            return await self._read()
        except (ConnectionError, TimeoutError, OSError):
            # Redis restarted, or failed over to another primary: drop this connection and ask
            # through the client, whose retries and reconnection (Sentinel: to the new primary)
            # apply; the next read opens a new connection.
            self._conn = None
            await conn.disconnect()
            reply = await self._script(keys=list(STAMP_KEYS))
        except BaseException:
            self._conn = None
            await conn.disconnect()  # whatever state it is in: the next read starts afresh
            raise
        assert isinstance(reply, list)
        return Stamp.parse(reply)

    async def _run(self) -> None:
        try:
            while self._waiting:
                # Requests whose bytes have already arrived join this read, not the next one.
                await asyncio.sleep(0)
                batch, self._waiting = self._waiting, []
                try:
                    stamp = await self._read()
                except Exception as exc:  # noqa: BLE001 - every waiter gets it (RedisError: 503)
                    for future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for future in batch:
                    if not future.done():  # a waiter cancelled (client gone) is skipped
                        future.set_result(stamp)
        finally:
            self._running = False


@dataclass
class _Entry:
    stamp: Stamp
    expires_ms: float  # wall-clock ms: the window's next change, or TTL_S
    rendered: Rendered
    size: int  # bytes counted against the bound (entry_bytes), compressed copies included


def entry_bytes(key: Hashable, rendered: Rendered) -> int:
    """What an entry is counted as: every byte it stores (body, validator, media type, each
    header, the key, the compressed copies made so far) and ``ENTRY_OVERHEAD`` for the Python
    objects holding them."""
    headers = sum(len(name) + len(value) for name, value in rendered.headers.items())
    stored = len(rendered.body) + len(rendered.etag) + len(rendered.media_type) + headers
    return stored + rendered.encoded_bytes + len(repr(key)) + ENTRY_OVERHEAD


class ReadCache:
    """Rendered views by key (route and normalised query), each valid for one stamp, at most
    ``max_bytes`` of them (``entry_bytes``), least recently used out."""

    def __init__(self, client: aredis.Redis, max_bytes: int) -> None:
        self.fence = Fence(client)
        self.max_bytes = max_bytes
        self.bytes = 0  # the sum of the entries' sizes
        self.entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._renders: dict[tuple[Hashable, Stamp], asyncio.Future[Rendered]] = {}

    async def serve(
        self, request: Request, key: Hashable, render: Callable[[], Awaitable[Rendered]]
    ) -> Response:
        """The view ``key`` as of now: from memory when current, else rendered (once)."""
        return self._respond(request, key, await self.view(key, render))

    async def serve_page(
        self,
        request: Request,
        key: tuple[Hashable, ...],
        before: Cursor | None,
        render: Callable[[Cursor | None], Awaitable[Rendered]],
    ) -> Response:
        """A paged view: ``key`` plus the page ``before`` gives, named as ``Stamp.page_cursor``
        names it (every cursor that gives the first page shares the first page's entry)."""
        stamp = await self._stamp()
        cursor = stamp.page_cursor(before)
        page_key = (*key, cursor)
        view = await self._view(stamp, page_key, lambda: render(cursor))
        return self._respond(request, page_key, view)

    def _respond(self, request: Request, key: Hashable, view: Rendered) -> Response:
        """``respond``; a compressed copy or header block it made is counted in the entry's size
        (if ``view`` is still stored under ``key``), the least recently used making room."""
        made = len(view.encodings) + len(view.blocks)
        response = respond(request, view)
        if len(view.encodings) + len(view.blocks) == made:
            return response  # nothing new was made: the usual case
        entry = self.entries.get(key)
        if entry is None or entry.rendered is not view:
            return response
        grown = entry_bytes(key, view) - entry.size
        if grown:
            entry.size += grown
            self.bytes += grown
            self._evict()
            self._measure()
        return response

    async def view(self, key: Hashable, render: Callable[[], Awaitable[Rendered]]) -> Rendered:
        """The view ``key`` as of now (``serve`` without the response)."""
        return await self._view(await self._stamp(), key, render)

    async def _stamp(self) -> Stamp:
        try:
            return await self.fence.stamp()
        except RedisError as exc:
            raise store_down() from exc

    async def _view(
        self, stamp: Stamp, key: Hashable, render: Callable[[], Awaitable[Rendered]]
    ) -> Rendered:
        entry = self.entries.get(key)
        if entry is not None and entry.stamp == stamp and time.time() * 1000 < entry.expires_ms:
            self.entries.move_to_end(key)
            VIEW_HITS.inc()
            return entry.rendered
        VIEW_MISSES.inc()
        flight = (key, stamp)
        pending = self._renders.get(flight)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Rendered] = asyncio.get_running_loop().create_future()
        self._renders[flight] = future
        try:
            # Rendered after the stamp was read: at least as new as the stamp says.
            rendered = await render()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters (if any) get it; none is not an error
            raise
        finally:
            del self._renders[flight]
        future.set_result(rendered)
        expires_ms = time.time() * 1000 + TTL_S * 1000
        if rendered.expires_ms is not None:
            expires_ms = min(expires_ms, rendered.expires_ms)
        self._keep(key, _Entry(stamp, expires_ms, rendered, entry_bytes(key, rendered)))
        return rendered

    def _keep(self, key: Hashable, entry: _Entry) -> None:
        """Store ``entry`` (replacing the key's old one), then drop the least recently used
        until the bound holds. A view bigger than the whole bound is not kept at all."""
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        if entry.size <= self.max_bytes:
            self.entries[key] = entry
            self.bytes += entry.size
        self._evict()
        self._measure()

    def _evict(self) -> None:
        """The least recently used out until the bound holds."""
        while self.bytes > self.max_bytes:
            _, dropped = self.entries.popitem(last=False)
            self.bytes -= dropped.size

    def _measure(self) -> None:
        VIEW_CACHE_BYTES.set(self.bytes)
        VIEW_CACHE_ENTRIES.set(len(self.entries))

    def invalidate(self, entries: list[Entry]) -> None:
        """The stream consumer's ``deliver``: events arrived, every stored view is old."""
        self.entries.clear()
        self.bytes = 0
        self._measure()


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
