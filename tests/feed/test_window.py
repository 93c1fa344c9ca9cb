"""The rolling window through the real services: a feed re-posted every poll announces nothing
twice, and trims that no event announces still move the feeds' Last-Modified."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest
import redis

from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.helpers import Feed, Ingest, article, empty_store, eventually, subscribe
from tests.procs import Stack

MAX_ITEMS = 5


@pytest.fixture(scope="module")
def small_stack() -> Iterator[Stack]:
    with EmbeddedRedis(short_tmpdir()) as server:
        stack = Stack(
            server.url,
            short_tmpdir(),
            extra_env={"LIVEFEED_MAX_ITEMS": str(MAX_ITEMS), "LIVEFEED_WINDOW_DAYS": "7"},
        ).start()
        yield stack
        stack.stop()


@pytest.fixture(autouse=True)
def empty(small_stack: Stack) -> None:
    """Each test starts from an empty timeline (the stack's processes keep running)."""
    client = redis.Redis.from_url(small_stack.redis_url)
    empty_store(client)
    client.close()


@pytest.fixture
async def clients(small_stack: Stack) -> AsyncIterator[tuple[Ingest, Feed]]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield Ingest(small_stack, http), Feed(small_stack, http)


def _feed_document(start: datetime, count: int) -> dict[str, object]:
    """An RSS-like poll: newest first, more entries than the timeline keeps."""
    return {
        "articles": [
            article(f"poll-{n}", published_at=(start + timedelta(minutes=n)).isoformat())
            for n in reversed(range(count))
        ]
    }


async def test_a_feed_polled_again_publishes_nothing_the_window_dropped(
    small_stack: Stack, clients: tuple[Ingest, Feed]
) -> None:
    ingest, feed = clients
    start = datetime.now(UTC) - timedelta(hours=1)
    document = _feed_document(start, MAX_ITEMS + 3)
    async with subscribe(small_stack.ws_url) as stream:
        await stream.next()  # hello
        first = await ingest.apply(document)
        assert [o["outcome"] for o in first] == ["published"] * MAX_ITEMS + ["expired"] * 3
        for _ in range(3):  # the same feed, polled again: nothing new, nothing announced
            again = await ingest.post(document)
            assert again.status_code == 200, again.text
            assert {r["status"] for r in again.json()["results"]} == {"unchanged"}
        await ingest.apply(article("poll-marker", published_at=datetime.now(UTC).isoformat()))
        announced = [(await stream.next())["headline"]["id"] for _ in range(MAX_ITEMS + 1)]
    assert announced == [f"poll-{n}" for n in reversed(range(3, MAX_ITEMS + 3))] + ["poll-marker"]
    assert len(await feed.ids()) == MAX_ITEMS


async def test_a_trimmed_item_comes_back_when_there_is_room_again(
    small_stack: Stack, clients: tuple[Ingest, Feed]
) -> None:
    """An item stored as expired by the count limit is judged again when re-posted: while the
    timeline is full it stays out (``unchanged``), once retractions make room it shows."""
    ingest, feed = clients
    document = _feed_document(datetime.now(UTC) - timedelta(hours=1), MAX_ITEMS + 3)
    await ingest.apply(document)
    for gone in ("poll-7", "poll-6"):
        response = await ingest.client.delete(
            f"{ingest.base}/v1/articles/{gone}", headers=ingest.auth
        )
        await ingest.wait_applied(response)
    again = await ingest.post(document)
    assert again.status_code == 202, again.text
    statuses = {r["id"]: r["status"] for r in again.json()["results"]}
    assert [statuses[f"poll-{n}"] for n in (2, 1, 0)] == ["accepted"] * 3
    outcomes = {o["id"]: o["outcome"] for o in await ingest.wait_applied(again)}
    # Room for two: the third would be trimmed at once, so it stays as it was.
    assert [outcomes[f"poll-{n}"] for n in (2, 1, 0)] == ["published", "published", "unchanged"]
    assert await feed.ids() == [f"poll-{n}" for n in (5, 4, 3, 2, 1)]


async def test_an_item_ageing_out_moves_last_modified(
    small_stack: Stack, clients: tuple[Ingest, Feed]
) -> None:
    """The window rolls with time, not with events: the feeds' Last-Modified must follow it, or a
    reader asking If-Modified-Since keeps an item that has left the window."""
    ingest, feed = clients
    now = datetime.now(UTC)
    await ingest.apply(
        {
            "articles": [
                article("age-stays", published_at=(now - timedelta(days=1)).isoformat()),
                article(
                    "age-leaves",
                    published_at=(now - timedelta(days=7) + timedelta(seconds=3)).isoformat(),
                ),
            ]
        }
    )
    url = f"{feed.base}/feed.rss"

    async def dated() -> httpx.Response | None:  # a change under a second old has none
        response = await feed.client.get(url)
        return response if "last-modified" in response.headers else None

    first = await eventually(dated, 10, "a Last-Modified")
    assert b"age-leaves" in first.content
    last_modified = first.headers["last-modified"]

    async def left() -> bool:
        return b"age-leaves" not in (await feed.client.get(url)).content

    await eventually(left, 15, "the item left the window")
    again = await feed.client.get(url, headers={"If-Modified-Since": last_modified})
    assert again.status_code == 200
    assert b"age-leaves" not in again.content
    assert b"age-stays" in again.content


async def test_a_change_within_the_same_second_is_never_answered_304(
    small_stack: Stack, clients: tuple[Ingest, Feed]
) -> None:
    ingest, feed = clients
    url = f"{feed.base}/feed.json"
    moment = datetime.now(UTC).isoformat()
    for n in range(5):
        await ingest.apply(article(f"quick-{n}", published_at=moment))
        response = await feed.client.get(url)
        if "last-modified" in response.headers:
            # Only a date a second old is given: any later change falls in a later second.
            stamp = parsedate_to_datetime(response.headers["last-modified"])
            assert datetime.now(UTC) - stamp >= timedelta(seconds=1)
    await ingest.apply(article("quick-last", published_at=moment))
    for header in ("Mon, 01 Jan 2024 00:00:00 GMT", _http_date_now()):
        response = await feed.client.get(url, headers={"If-Modified-Since": header})
        assert response.status_code == 200
        assert "quick-last" in response.text


def _http_date_now() -> str:
    return format_datetime(datetime.now(UTC), usegmt=True)
