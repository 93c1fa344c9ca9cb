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
it never shows one past its time; and after ``TTL_S`` whatever happens. The number of entries is
bounded (least recently used out): hostile query strings cannot grow it.
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
from services.feed.metrics import VIEW_HITS, VIEW_MISSES
from services.feed.params import store_down
from shared import keys
from shared.events import Entry

TTL_S = 60.0  # the longest an entry is served, whatever else
MAX_ENTRIES = 2_048

# The timeline's state: the newest event id, the last unannounced change and the timeline's
# size (which also moves when someone empties the store by hand), in one call.
STAMP_LUA = """
local latest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0-0'
if #latest > 0 then id = latest[1][1] end
return {id, (redis.call('GET', KEYS[2]) or '') .. '/' .. redis.call('ZCARD', KEYS[3])}
"""

STAMP_KEYS = (keys.EVENTS, keys.CHANGED, keys.TIMELINE)
Stamp = tuple[bytes, bytes]


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
            event_id, changed = await conn.read_response()
        except NoScriptError:  # Redis restarted without its scripts: load it, then ask again
            await self.client.script_load(STAMP_LUA)
            return await self._read()
        except (ConnectionError, TimeoutError, OSError):
            # Redis restarted, or failed over to another primary: drop this connection and ask
            # through the client, whose retries and reconnection (Sentinel: to the new primary)
            # apply; the next read opens a new connection.
            self._conn = None
            await conn.disconnect()
            event_id, changed = await self._script(keys=list(STAMP_KEYS))
        except BaseException:
            self._conn = None
            await conn.disconnect()  # whatever state it is in: the next read starts afresh
            raise
        return _bytes(event_id), _bytes(changed)

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


@dataclass(frozen=True)
class _Entry:
    stamp: Stamp
    expires_ms: float  # wall-clock ms: the window's next change, or TTL_S
    rendered: Rendered


class ReadCache:
    """Rendered views by key (route and normalised query), each valid for one stamp."""

    def __init__(self, client: aredis.Redis, max_entries: int = MAX_ENTRIES) -> None:
        self.fence = Fence(client)
        self.max_entries = max_entries
        self.entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._renders: dict[tuple[Hashable, Stamp], asyncio.Future[Rendered]] = {}

    async def serve(
        self, request: Request, key: Hashable, render: Callable[[], Awaitable[Rendered]]
    ) -> Response:
        """The view ``key`` as of now: from memory when current, else rendered (once)."""
        return respond(request, await self.view(key, render))

    async def view(self, key: Hashable, render: Callable[[], Awaitable[Rendered]]) -> Rendered:
        try:
            stamp = await self.fence.stamp()
        except RedisError as exc:
            raise store_down() from exc
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
        self.entries[key] = _Entry(stamp, expires_ms, rendered)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
        return rendered

    def invalidate(self, entries: list[Entry]) -> None:
        """The stream consumer's ``deliver``: events arrived, every stored view is old."""
        self.entries.clear()


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
