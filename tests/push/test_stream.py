"""The WebSocket stream: live events, resume with since, reset, filters, several push processes."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from tests.helpers import (
    Feed,
    Ingest,
    StalledReader,
    article,
    eventually,
    reader_that_never_reads,
    subscribe,
)
from tests.procs import Stack, free_port


async def test_published_updated_retracted_reach_a_subscriber(
    ingest: Ingest, feed: Feed, fresh: Stack
) -> None:
    async with subscribe(fresh.ws_url) as stream:
        assert (await stream.next())["type"] == "hello"

        await ingest.apply(article("life", title="First title", version=1))
        published = await stream.next()
        assert published["type"] == "published"
        assert published["headline"]["title"] == "First title"
        assert published["headline"]["time"] == "16:55"

        await ingest.apply(article("life", title="Second title", version=2))
        updated = await stream.next()
        assert updated["type"] == "updated"
        assert updated["headline"]["title"] == "Second title"
        assert updated["event_id"] > published["event_id"]
        assert await feed.ids() == ["life"]
        assert (await feed.timeline())["days"][0]["items"][0]["title"] == "Second title"

        # An older version changes and pushes nothing: the next frame is the marker's.
        outcomes = await ingest.apply(article("life", title="Old copy", version=1))
        assert outcomes[0]["outcome"] == "stale"
        again = await ingest.apply(article("life", title="Second title", version=2))
        assert again[0]["outcome"] == "unchanged"
        await ingest.apply(article("marker"))
        assert (await stream.next())["headline"]["id"] == "marker"
        assert (await feed.timeline())["days"][0]["items"][-1]["title"] == "Second title"

        response = await ingest.client.delete(
            f"{ingest.base}/v1/articles/life", headers=ingest.auth
        )
        assert (await ingest.wait_applied(response))[0]["outcome"] == "retracted"
        retracted = await stream.next()
        assert retracted == {
            "type": "retracted",
            "event_id": retracted["event_id"],
            "headline": {"id": "life"},
        }
        assert await feed.ids() == ["marker"]
        gone = await feed.client.get(f"{feed.base}/v1/articles/life")
        assert gone.status_code == 404


async def test_resume_since_the_timeline_event_id_loses_and_repeats_nothing(
    ingest: Ingest, feed: Feed, fresh: Stack
) -> None:
    await ingest.apply(article("before"))
    since = (await feed.timeline())["event_id"]
    for n in range(3):
        await ingest.apply(article(f"missed-{n}"))

    async with subscribe(fresh.ws_url, since=since) as stream:
        hello = await stream.next()
        assert hello["type"] == "hello"
        replayed = await stream.take(3)
        assert [m["headline"]["id"] for m in replayed] == ["missed-0", "missed-1", "missed-2"]
        assert all(m["type"] == "published" for m in replayed)
        await ingest.apply(article("live-after"))
        live = await stream.next()
        assert live["headline"]["id"] == "live-after"
        ids = [m["event_id"] for m in [*replayed, live]]
        assert ids == sorted(ids)
        assert len(set(ids)) == 4


async def test_resume_while_events_keep_arriving_has_no_gap_and_no_duplicate(
    ingest: Ingest, feed: Feed, fresh: Stack
) -> None:
    since = (await feed.timeline())["event_id"]
    posted = [f"flow-{n:03d}" for n in range(60)]

    first_sent = asyncio.Event()

    async def post_all() -> None:
        for article_id in posted:
            await ingest.post(article(article_id))
            first_sent.set()

    poster = asyncio.create_task(post_all())
    await first_sent.wait()
    got: list[str] = []
    # Connect while the posts are still being applied.
    async with subscribe(fresh.ws_url, since=since) as stream:
        assert (await stream.next())["type"] == "hello"
        while len(got) < len(posted):
            got.append((await stream.next(timeout=10))["headline"]["id"])
    await poster
    assert got == posted


async def test_since_older_than_the_log_gets_reset(ingest: Ingest, fresh: Stack) -> None:
    from tests.conftest import STREAM_MAXLEN

    first = await ingest.apply(article("oldest"))
    oldest_event = first[0]["event_id"]
    batch = [article(f"fill-{n}") for n in range(STREAM_MAXLEN + 5)]
    newest = (await ingest.apply({"articles": batch}))[-1]["event_id"]

    async def push_caught_up() -> bool:
        # The push process's own reader may fall behind the trim under load: it then closes its
        # readers (1012, "stream gap") once. Wait until it has read past the batch.
        async with subscribe(fresh.ws_url) as probe:
            return bool((await probe.next())["event_id"] == newest)

    await eventually(push_caught_up, what="the push process has read the whole batch")
    async with subscribe(fresh.ws_url, since=oldest_event) as stream:
        assert (await stream.next())["type"] == "hello"
        assert await stream.next() == {"type": "reset"}
        # Still subscribed: live events keep coming after the reset.
        await ingest.apply(article("after-reset"))
        assert (await stream.next())["headline"]["id"] == "after-reset"


async def test_filters_deliver_only_matching_events(ingest: Ingest, fresh: Stack) -> None:
    async with (
        subscribe(fresh.ws_url, section="sport") as sport,
        subscribe(fresh.ws_url, label="Breaking") as breaking,
    ):
        await sport.next()
        await breaking.next()
        await ingest.apply(
            {
                "articles": [
                    article("f-world", section="world"),
                    article("f-sport", section="sport"),
                    article("f-urgent", section="world", urgency=1),
                ]
            }
        )
        assert (await sport.next())["headline"]["id"] == "f-sport"
        urgent = await breaking.next()
        assert urgent["headline"]["id"] == "f-urgent"
        assert urgent["headline"]["breaking"] is True
        await ingest.apply(article("f-end", section="sport", urgency=2))
        assert (await sport.next())["headline"]["id"] == "f-end"
        assert (await breaking.next())["headline"]["id"] == "f-end"


# One past what a Redis Stream id part can hold (2**64 - 1): Redis refuses it with an error.
BEYOND_64_BITS = str(2**64)


async def test_since_beyond_64_bits_is_refused_before_upgrading(
    ingest: Ingest, fresh: Stack
) -> None:
    await ingest.apply(article("before-bad-since"))
    for since in (f"{BEYOND_64_BITS}-0", f"1-{BEYOND_64_BITS}", BEYOND_64_BITS):
        # Before: accepted, then closed with 1011 by Redis's error, and the client came back
        # with the same since forever.
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{fresh.ws_url}?since={since}", open_timeout=5):
                pass
        response = refused.value.response
        assert response.status_code == 400, since
        assert response.headers["Content-Type"] == "application/problem+json"
        problem = json.loads(response.body)
        assert problem["errors"][0]["field"] == "since"
        assert str(2**64 - 1) in problem["detail"]
    # The largest id Redis can hold is an id: newer than the log, so the client reloads.
    largest = f"{2**64 - 1}-{2**64 - 1}"
    async with subscribe(fresh.ws_url, since=largest) as stream:
        assert (await stream.next())["type"] == "hello"
        assert (await stream.next())["type"] == "reset"


async def test_bad_stream_requests_are_refused_before_upgrading(fresh: Stack) -> None:
    for query, field in [("since=yesterday", "since"), ("section=NO%20WAY", "section")]:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{fresh.ws_url}?{query}"):
                pass
        assert refused.value.response.status_code == 400
        assert field.encode() in refused.value.response.body
    with pytest.raises(websockets.InvalidStatus) as foreign:
        async with websockets.connect(fresh.ws_url, origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert foreign.value.response.status_code == 403
    # The feed page's own origin is welcome.
    own = f"http://127.0.0.1:{fresh.ports['feed']}"
    async with websockets.connect(fresh.ws_url, origin=own) as ws:  # type: ignore[arg-type]
        assert "hello" in str(await ws.recv())
    async with httpx.AsyncClient() as client:
        health = await client.get(f"http://127.0.0.1:{fresh.ports['push']}/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        # The server closes after a plain HTTP answer and says so, so a keep-alive health
        # probe opens a new connection instead of writing into the closing one.
        assert health.headers["connection"] == "close"
        for _ in range(50):
            again = await client.get(f"http://127.0.0.1:{fresh.ports['push']}/readyz")
            assert again.status_code == 200


async def test_two_push_processes_both_deliver_every_event(ingest: Ingest, fresh: Stack) -> None:
    port = free_port()
    second = fresh.start_service("push", key="push2", LIVEFEED_PUSH_PORT=str(port))
    try:
        fresh.wait_healthy("push2", port=port)
        other_url = f"ws://127.0.0.1:{port}/v1/stream"
        async with subscribe(fresh.ws_url) as one, subscribe(other_url) as two:
            await one.next()
            await two.next()
            ids = [f"both-{n}" for n in range(20)]
            for article_id in ids:
                await ingest.post(article(article_id))
            got_one = [(await one.next())["headline"]["id"] for _ in ids]
            got_two = [(await two.next())["headline"]["id"] for _ in ids]
            assert got_one == ids
            assert got_two == ids
    finally:
        second.stop()


async def test_a_client_that_answers_no_ping_is_closed_and_one_that_does_stays(
    ingest: Ingest, fresh: Stack
) -> None:
    """Every connection's pings come from the process's one timer: a silent client (a dead
    network path) is closed with 1011 within two intervals, a live one is kept."""
    port = free_port()
    extra = fresh.start_service(
        "push", key="push-pings", LIVEFEED_PUSH_PORT=str(port), LIVEFEED_PING_INTERVAL="0.3"
    )
    try:
        fresh.wait_healthy("push", port=port)
        async with subscribe(f"ws://127.0.0.1:{port}/v1/stream") as alive:
            assert (await alive.next())["type"] == "hello"
            silent = reader_that_never_reads(port)  # reads, but never answers a ping
            started = time.monotonic()
            _messages, code = await asyncio.to_thread(
                StalledReader(silent).read_until, lambda _: False, 10
            )
            silent.close()
            assert code == 1011
            assert time.monotonic() - started < 3
            # The client that answers its pings is still served, well past two intervals.
            await ingest.apply(article("still-here"))
            assert (await alive.next())["headline"]["id"] == "still-here"
    finally:
        extra.stop()
