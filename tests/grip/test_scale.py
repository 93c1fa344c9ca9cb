"""2,000 SSE readers and 200 WebSocket readers behind a real Pushpin, filtered three ways.

Every reader gets every event of its filter once and in order (an article moving out of a
section reaches that section's readers as ``retracted`` with reason ``filter``; a correction as
``corrected``; a retraction), while the origin (feed) holds none of their connections and the
grip-publisher publishes each event once per channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis
import websockets

from shared.events import Event
from shared.keys import EVENTS
from tests.grip.gripstack import GripStack, RawSse, Shape, established_tcp, shape
from tests.helpers import Ingest, article, eventually, http_client
from tests.procs import wait_for

SSE_READERS = 2_000
WS_READERS = 200
# The three filters: everything, one section, one edition (language).
FILTERS: list[dict[str, str]] = [{}, {"section": "world"}, {"lang": "uk"}]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def grip() -> Iterator[GripStack]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 3 * (SSE_READERS + WS_READERS) + 1_000)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    running = GripStack.start()
    yield running
    running.stop()


def channels_reached(grip: GripStack, ids: list[str]) -> list[int]:
    """How many channels each event (by id) is published on: its filters, now and left."""
    client = redis.Redis.from_url(grip.redis.url)
    try:
        counts = []
        for event_id in ids:
            [(raw_id, fields)] = client.xrange(EVENTS, event_id, event_id)
            now, left = Event.from_entry(raw_id, fields).filter_keys()
            counts.append(len(now | left))
        return counts
    finally:
        client.close()


class WsReader:
    """A WebSocket reader through Pushpin, recording every message after hello."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    async def open(self, stack: contextlib.AsyncExitStack) -> None:
        ws = await stack.enter_async_context(websockets.connect(self.url, open_timeout=20))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert hello["type"] == "hello", hello

        async def read() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    self.messages.append(json.loads(raw))

        self.task = asyncio.create_task(read())


@contextlib.asynccontextmanager
async def readers(grip: GripStack) -> AsyncIterator[tuple[list[RawSse], list[WsReader]]]:
    sse = [RawSse(grip.pushpin.url, **FILTERS[n % 3]) for n in range(SSE_READERS)]
    ws = [
        WsReader(f"{grip.ws_url}?{httpx.QueryParams(FILTERS[n % 3])}".rstrip("?"))
        for n in range(WS_READERS)
    ]
    limit = asyncio.Semaphore(100)

    async def open_sse(reader: RawSse) -> None:
        async with limit:
            await reader.open()

    async with contextlib.AsyncExitStack() as stack:
        try:
            await asyncio.gather(*(open_sse(r) for r in sse))

            async def open_ws(reader: WsReader) -> None:
                async with limit:
                    await reader.open(stack)

            await asyncio.gather(*(open_ws(r) for r in ws))
            yield sse, ws
        finally:
            await asyncio.gather(*(r.close() for r in sse))
            for reader in ws:
                if reader.task is not None:
                    reader.task.cancel()


async def test_thousands_of_filtered_readers_through_pushpin_get_each_event_once_in_order(
    grip: GripStack,
) -> None:
    started = time.monotonic()
    async with http_client() as http:
        ingest = Ingest(grip.stack, http)
        async with readers(grip) as (sse, ws):
            connected = time.monotonic() - started
            # The origin holds none of the 2,200 readers: only Redis and the idle keep-alive
            # connections Pushpin's HTTP client (zurl) kept from the burst of 100 readers
            # opening at a time (≈70 here), not one per reader.
            feed_pid = grip.stack.services["feed"].process.pid  # type: ignore[union-attr]
            push_pid = grip.stack.services["push"].process.pid  # type: ignore[union-attr]
            origin_sockets = {
                "feed": established_tcp(feed_pid),
                "push": established_tcp(push_pid),
            }
            assert sum(origin_sockets.values()) < (SSE_READERS + WS_READERS) // 20, origin_sockets
            published_before = await asyncio.to_thread(grip.published)

            # An English article in world; a Ukrainian one in sport; the world article moves
            # to sport (it leaves the world readers); the Ukrainian one is corrected, then
            # retracted; a Ukrainian article in world reaches all three filters.
            posted = time.monotonic()
            one = (await ingest.apply(article("sc-1", section="world", language="en")))[0]
            two = (await ingest.apply(article("sc-2", section="sport", language="uk")))[0]
            moved = (
                await ingest.apply(article("sc-1", version=2, section="sport", language="en"))
            )[0]
            fixed = (
                await ingest.apply(
                    article("sc-2", version=2, section="sport", language="uk", correction="Date")
                )
            )[0]
            url = f"{ingest.base}/v1/articles/sc-2"
            gone = await ingest.client.delete(url, headers=ingest.auth)
            retracted = (await ingest.wait_applied(gone))[0]
            three = (await ingest.apply(article("sc-3", section="world", language="uk")))[0]
            e = {
                name: outcome["event_id"]
                for name, outcome in [
                    ("one", one),
                    ("two", two),
                    ("moved", moved),
                    ("fixed", fixed),
                    ("retracted", retracted),
                    ("three", three),
                ]
            }
            expected: list[list[Shape]] = [
                [  # everything
                    ("published", e["one"], "sc-1", None),
                    ("published", e["two"], "sc-2", None),
                    ("updated", e["moved"], "sc-1", None),
                    ("corrected", e["fixed"], "sc-2", None),
                    ("retracted", e["retracted"], "sc-2", None),
                    ("published", e["three"], "sc-3", None),
                ],
                [  # world
                    ("published", e["one"], "sc-1", None),
                    ("retracted", e["moved"], "sc-1", "filter"),
                    ("published", e["three"], "sc-3", None),
                ],
                [  # uk
                    ("published", e["two"], "sc-2", None),
                    ("corrected", e["fixed"], "sc-2", None),
                    ("retracted", e["retracted"], "sc-2", None),
                    ("published", e["three"], "sc-3", None),
                ],
            ]

            def sse_shapes(n: int) -> list[Shape]:
                return [shape(m.data) for m in sse[n].events()]

            def ws_shapes(n: int) -> list[Shape]:
                return [shape(m) for m in ws[n].messages]

            async def all_in() -> bool:
                return all(
                    len(sse_shapes(n)) >= len(expected[n % 3]) for n in range(SSE_READERS)
                ) and all(len(ws_shapes(n)) >= len(expected[n % 3]) for n in range(WS_READERS))

            await eventually(all_in, 20, "every reader has as many events as it is owed", 0.05)
            delivered = time.monotonic() - posted
            for n in range(SSE_READERS):
                assert sse_shapes(n) == expected[n % 3], (n, FILTERS[n % 3])
                ids = [m.id for m in sse[n].events()]
                assert ids == [m.data["event_id"] for m in sse[n].events()]
            for n in range(WS_READERS):
                assert ws_shapes(n) == expected[n % 3], (n, FILTERS[n % 3])
            # A correction carries its note; the reason filter is for the world readers only.
            corrected = next(m for m in ws[0].messages if m["type"] == "corrected")
            assert corrected["correction"]["text"] == "Date"

            # Nothing more arrives: no item was delivered twice (a later duplicate would show).
            end = (await ingest.apply(article("sc-end", section="world", language="uk")))[0]
            await asyncio.wait_for(
                sse[1].until(lambda m: len(m) == len(expected[1]) + 2), 10
            )  # hello + expected + the marker
            assert [m.data["headline"]["id"] for m in sse[1].events()][-1] == "sc-end"

            # The publisher published each event once on every channel it reaches (in use or
            # not: Event.filter_keys, the filters it is shown to and those it left).
            ids = [*e.values(), end["event_id"]]
            items = sum(await asyncio.to_thread(channels_reached, grip, ids))

            def published_all() -> bool:
                return grip.published() - published_before >= items

            await asyncio.to_thread(wait_for, published_all, 10)
            assert await asyncio.to_thread(grip.published) - published_before == items
            print(
                f"\n{SSE_READERS} SSE + {WS_READERS} WS readers connected through Pushpin in "
                f"{connected:.1f}s; 6 events to all in {delivered:.2f}s; origin sockets "
                f"{origin_sockets}; {items} items published"
            )
