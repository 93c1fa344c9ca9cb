"""What each subscriber sees: an article leaving its filter, and nothing at or before ``since``.

Both hold for the WebSocket (push) and for SSE (feed), which must behave alike.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

from services.push.server import PushServer
from shared.eventlog import stop_reader
from shared.events import EventId
from shared.settings import Settings
from tests.helpers import Ingest, Stream, article, subscribe
from tests.procs import Stack, free_port
from tests.sse import sse


def _events_url(stack: Stack) -> str:
    return f"{stack.url('push')}/v1/events"


async def test_an_update_that_leaves_a_filter_retracts_it_there_only(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    async with (
        subscribe(fresh.ws_url, label="exclusive") as exclusive,
        subscribe(fresh.ws_url, section="world") as world,
        subscribe(fresh.ws_url, label="breaking") as breaking,
        subscribe(fresh.ws_url) as everything,
        sse(http, _events_url(fresh), label="exclusive") as exclusive_sse,
    ):
        for stream in (exclusive, world, breaking, everything):
            assert (await stream.next())["type"] == "hello"
        assert (await exclusive_sse.next()).event == "hello"

        await ingest.apply(
            article("moving", version=1, labels=["Exclusive"], section="world", urgency=1)
        )
        for stream in (exclusive, world, breaking, everything):
            assert (await stream.next())["type"] == "published"
        assert (await exclusive_sse.next()).data["type"] == "published"

        # Version 2 drops the label, moves section and is no longer breaking news.
        applied = await ingest.apply(article("moving", version=2, section="sport", urgency=5))
        event_id = applied[0]["event_id"]
        left = {
            "type": "retracted",
            "event_id": event_id,
            "reason": "filter",
            "headline": {"id": "moving"},
        }
        for stream in (exclusive, world, breaking):
            assert await stream.next() == left
        sse_left = await exclusive_sse.next()
        assert sse_left.event == "retracted"
        assert sse_left.id == event_id
        assert sse_left.data == left
        # Whoever still sees it gets the update.
        update = await everything.next()
        assert update["type"] == "updated"
        assert update["headline"]["section"] == "sport"

        # Nothing more for the filters it left: the next frame is a later, matching article.
        await ingest.apply(article("marker", labels=["exclusive"], section="world", urgency=1))
        for stream in (exclusive, world, breaking):
            assert (await stream.next())["headline"]["id"] == "marker"
        assert (await exclusive_sse.next()).data["headline"]["id"] == "marker"


async def test_a_resume_replays_the_filter_retraction_too(ingest: Ingest, fresh: Stack) -> None:
    first = await ingest.apply(article("back", version=1, labels=["exclusive"]))
    since = first[0]["event_id"]
    await ingest.apply(article("back", version=2, labels=[]))
    async with subscribe(fresh.ws_url, since=since, label="exclusive") as stream:
        assert (await stream.next())["type"] == "hello"
        replayed = await stream.next()
        assert replayed["type"] == "retracted"
        assert replayed["reason"] == "filter"


# -- nothing at or before `since`, when `since` is ahead of this process's stream reader ---------


@pytest.fixture
def redis_url(fresh: Stack) -> str:
    return fresh.redis_url


async def _published(ingest: Ingest, ids: list[str]) -> str:
    """Apply one article per id; return the newest event id."""
    applied = await ingest.apply({"articles": [article(i) for i in ids]})
    return str(applied[-1]["event_id"])


async def test_websocket_resume_ahead_of_the_reader_sends_nothing_up_to_since(
    ingest: Ingest, redis_url: str
) -> None:
    settings = Settings(redis_url=redis_url, push_port=free_port())
    push = PushServer(settings, redis_url)
    await push.start()
    try:
        assert push.reader is not None
        await asyncio.wait_for(push.reader.ready.wait(), 10)
        # The reader falls behind (a Redis blip, a busy process) while events are written.
        await stop_reader(push._reader_task)
        since = await _published(ingest, ["ahead-1", "ahead-2", "ahead-3"])
        url = f"ws://127.0.0.1:{settings.push_port}/v1/stream?since={since}"
        async with websockets.connect(url) as ws:
            stream = Stream(ws)
            assert (await stream.next())["type"] == "hello"
            push._reader_task = asyncio.create_task(push.reader.run())  # it catches up
            await ingest.apply(article("after-since"))
            frame = await stream.next()
            assert frame["headline"]["id"] == "after-since"
            assert EventId.parse(frame["event_id"]) > EventId.parse(since)
    finally:
        await push.stop()


async def test_sse_resume_ahead_of_the_reader_sends_nothing_up_to_since(
    ingest: Ingest, redis_url: str, http: httpx.AsyncClient
) -> None:
    settings = Settings(redis_url=redis_url, push_port=free_port())
    push = PushServer(settings, redis_url)
    await push.start()
    try:
        assert push.reader is not None
        await asyncio.wait_for(push.reader.ready.wait(), 10)
        await stop_reader(push._reader_task)
        since = await _published(ingest, ["sse-ahead-1", "sse-ahead-2"])
        url = f"http://127.0.0.1:{settings.push_port}/v1/events"
        async with sse(http, url, last_event_id=since) as stream:
            assert (await stream.next()).event == "hello"
            push._reader_task = asyncio.create_task(push.reader.run())  # it catches up
            await ingest.apply(article("sse-after-since"))
            frame = await stream.next(timeout=10)
            assert frame.data["headline"]["id"] == "sse-after-since"
            assert frame.id is not None
            assert EventId.parse(frame.id) > EventId.parse(since)
    finally:
        await push.stop()


async def test_a_stream_url_with_too_many_fields_is_a_400(fresh: Stack) -> None:
    query = "&".join(f"f{n}=1" for n in range(25))
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{fresh.ws_url}?{query}"):
            pass
    assert refused.value.response.status_code == 400
    assert refused.value.response.headers["Content-Type"] == "application/problem+json"
