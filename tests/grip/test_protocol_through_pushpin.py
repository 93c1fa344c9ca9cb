"""The stream protocol's scenarios of tests/push (test_sse.py, test_stream.py,
test_filters_and_floors.py, test_editions.py), repeated through a real Pushpin: what a reader
gets through the proxy is what it gets from push.

hello first (SSE: no ``id:``, a ``retry``); published/updated/retracted with ids, in order;
resume while events keep arriving (no gap, no duplicate); filters by section, label and
edition; an update leaving a filter is ``retracted`` with reason ``filter`` there only, and a
resume replays it; ``corrected``; summary frames for the section's readers; never a frame at or
before ``since``; the query's problems (400 naming the field).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.events import EventId
from tests.grip.gripstack import GripStack
from tests.helpers import Ingest, article, http_client, subscribe
from tests.sse import sse


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client() as client:
        yield client


@pytest.fixture
def ingest(grip: GripStack, http: httpx.AsyncClient) -> Ingest:
    return Ingest(grip.stack, http)


async def test_sse_through_pushpin_carries_hello_then_published_updated_retracted_with_ids(
    grip: GripStack, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    async with sse(http, grip.events_url, section="p-sse") as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert "no-store" in stream.response.headers["cache-control"]
        assert "Grip-Hold" not in stream.response.headers  # Pushpin keeps its instructions
        hello = await stream.next()
        assert hello.event == "hello"
        assert hello.id is None
        assert stream.retry is not None
        assert 1000 <= stream.retry <= 5000

        await ingest.apply(article("ps-1", title="First", version=1, section="p-sse"))
        await ingest.apply(article("ps-1", title="Second", version=2, section="p-sse"))
        url = f"{ingest.base}/v1/articles/ps-1"
        await ingest.wait_applied(await ingest.client.delete(url, headers=ingest.auth))
        published, updated, retracted = await stream.take(3)
    assert (published.event, published.data["headline"]["title"]) == ("published", "First")
    assert (updated.event, updated.data["headline"]["title"]) == ("updated", "Second")
    assert (retracted.event, retracted.data["headline"]) == ("retracted", {"id": "ps-1"})
    for message in (published, updated, retracted):
        assert message.id == message.data["event_id"]
        assert message.data["type"] == message.event
    ids = [EventId.parse(m.id or "") for m in (published, updated, retracted)]
    assert ids == sorted(set(ids))


@pytest.mark.xfail(
    reason="Pushpin's WebSocket delivery is best effort: while it sets up the connection it "
    "queues what is published, then drops what its 8 KiB client buffer cannot take at once "
    "(here ~15 of 40), and WebSocket-over-HTTP has no prev-id recovery. The column reads SSE "
    "behind a GRIP proxy for that reason (docs/stream.md); SSE recovers",
    strict=False,
)
async def test_websocket_resume_while_events_keep_arriving_has_no_gap_and_no_duplicate(
    grip: GripStack, ingest: Ingest
) -> None:
    section = "p-flow"
    since = str((await ingest.apply(article("pf-start", section=section)))[0]["event_id"])
    posted = [f"pf-{n:03d}" for n in range(40)]
    first_sent = asyncio.Event()

    async def post_all() -> None:
        for article_id in posted:
            await ingest.post(article(article_id, section=section))
            first_sent.set()

    poster = asyncio.create_task(post_all())
    await first_sent.wait()
    got: list[dict[str, Any]] = []
    async with subscribe(grip.ws_url, since=since, section=section) as stream:
        assert (await stream.next())["type"] == "hello"
        while len(got) < len(posted):
            got.append(await stream.next(timeout=10))
    await poster
    assert [m["headline"]["id"] for m in got] == posted
    ids = [EventId.parse(m["event_id"]) for m in got]
    assert ids == sorted(set(ids))
    assert ids[0] > EventId.parse(since)


async def test_filters_and_an_update_leaving_one_through_pushpin(
    grip: GripStack, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    """tests/push/test_filters_and_floors.py's and test_editions.py's scenarios."""
    async with (
        subscribe(grip.ws_url, label="p-exclusive") as exclusive,
        subscribe(grip.ws_url, section="p-world") as world,
        subscribe(grip.ws_url, lang="uk") as uk,
        sse(http, grip.events_url, label="P-Exclusive") as exclusive_sse,
        sse(http, grip.events_url, lang="uk-UA") as uk_sse,
    ):
        for ws in (exclusive, world, uk):
            assert (await ws.next())["type"] == "hello"
        for stream in (exclusive_sse, uk_sse):
            assert (await stream.next()).event == "hello"

        await ingest.apply(article("pm", version=1, labels=["P-Exclusive"], section="p-world"))
        await ingest.apply(article("pm-uk", version=1, language="uk-UA", section="p-other"))
        assert (await exclusive.next())["headline"]["id"] == "pm"
        assert (await world.next())["headline"]["id"] == "pm"
        assert (await exclusive_sse.next()).data["headline"]["id"] == "pm"
        assert (await uk.next())["headline"]["id"] == "pm-uk"
        assert (await uk_sse.next()).data["headline"]["id"] == "pm-uk"

        # pm drops the label and moves section; pm-uk becomes English (leaves the edition).
        moved = await ingest.apply(article("pm", version=2, section="p-sport"))
        english = await ingest.apply(article("pm-uk", version=2, language="en", section="p-other"))
        left = {"type": "retracted", "reason": "filter", "headline": {"id": "pm"}}
        left["event_id"] = moved[0]["event_id"]
        assert await exclusive.next() == left
        assert await world.next() == left
        sse_left = await exclusive_sse.next()
        assert (sse_left.event, sse_left.id, sse_left.data) == ("retracted", left["event_id"], left)
        left_uk = {"type": "retracted", "reason": "filter", "headline": {"id": "pm-uk"}}
        left_uk["event_id"] = english[0]["event_id"]
        assert await uk.next() == left_uk
        assert (await uk_sse.next()).data == left_uk

        # Nothing more of them there: the next frame is a later matching article.
        await ingest.apply(article("pm", version=3, section="p-sport", title="Again"))
        await ingest.apply(
            article("pm-end", labels=["p-exclusive"], section="p-world", language="uk")
        )
        for ws in (exclusive, world, uk):
            assert (await ws.next())["headline"]["id"] == "pm-end"
        for stream in (exclusive_sse, uk_sse):
            assert (await stream.next()).data["headline"]["id"] == "pm-end"

    # A resume from before the move replays the filter retraction.
    since = str((await ingest.apply(article("pb", version=1, labels=["p-back"])))[0]["event_id"])
    await ingest.apply(article("pb", version=2, labels=[]))
    async with subscribe(grip.ws_url, since=since, label="p-back") as stream:
        assert (await stream.next())["type"] == "hello"
        replayed = await stream.next()
        assert (replayed["type"], replayed["reason"]) == ("retracted", "filter")


async def test_corrected_and_summary_frames_through_pushpin(
    grip: GripStack, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    async with (
        subscribe(grip.ws_url, section="p-sum") as ws,
        sse(http, grip.events_url, section="p-sum") as stream,
        subscribe(grip.ws_url, section="p-not-sum") as other,
    ):
        assert (await ws.next())["type"] == "hello"
        assert (await stream.next()).event == "hello"
        assert (await other.next())["type"] == "hello"
        await ingest.apply(article("pc", version=1, section="p-sum"))
        await ingest.apply(article("pc", version=2, section="p-sum", correction="Wrong town"))
        assert (await ws.next())["type"] == "published"
        corrected = await ws.next()
        assert corrected["type"] == "corrected"
        assert corrected["correction"]["text"] == "Wrong town"
        assert [m.event for m in await stream.take(2)] == ["published", "corrected"]

        response = await ingest.client.put(
            f"{ingest.base}/v1/summary",
            json={"text": "The story so far", "section": "p-sum"},
            headers=ingest.auth,
        )
        assert response.status_code == 200, response.text
        summary = await ws.next()
        assert (summary["type"], summary["section"]) == ("summary", "p-sum")
        assert "The story so far" in str(summary["summary"])
        sse_summary = await stream.next()
        assert (sse_summary.event, sse_summary.data) == ("summary", summary)
        # The other section's readers got neither: their next frame is their own article.
        await ingest.apply(article("pc-other", section="p-not-sum"))
        assert (await other.next())["headline"]["id"] == "pc-other"


async def test_the_query_s_problems_through_pushpin_name_the_field(
    grip: GripStack, http: httpx.AsyncClient
) -> None:
    beyond = f"{2**64}-0"
    for headers, params, field in [
        ({"Last-Event-ID": "yesterday"}, {}, "Last-Event-ID"),
        ({"Last-Event-ID": beyond}, {}, "Last-Event-ID"),
        ({}, {"since": beyond}, "since"),
        ({}, {"since": "x"}, "since"),
        ({}, {"section": "Not A Slug"}, "section"),
        ({}, {"lang": "x y"}, "lang"),
    ]:
        bad = await http.get(grip.events_url, headers=headers, params=params)
        assert bad.status_code == 400, bad.text
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["errors"][0]["field"] == field
