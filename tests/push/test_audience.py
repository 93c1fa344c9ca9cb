"""Who is reading now (issue 26): every push process reports its readers to Redis, and ingest
and feed answer ``GET /v1/audience`` with the sum, per filter, per transport and tabs; the
per-minute maxima of that sum, the readers at each publication, the gauge and the public count.

Two push processes on a Redis of their own, real WebSocket and SSE readers, real services.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aredis
import websockets
from websockets.asyncio.client import ClientConnection

from shared import audience as shared_audience
from shared import keys
from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.feed.test_clicks import beacon, stats
from tests.helpers import Ingest, article, eventually, minute_with_time_left
from tests.ops.metrics_client import scrape, value
from tests.procs import Stack, free_port
from tests.sse import sse

INTERVAL = 2.0  # LIVEFEED_AUDIENCE_INTERVAL's default: the tests run with it
EXPIRY = INTERVAL * shared_audience.EXPIRY_INTERVALS
POLITICS = {"section": "politics"}
BREAKING = {"label": "breaking"}
UKRAINIAN = {"lang": "uk", "tabs": "2"}  # pages whose leader tab serves two tabs


@pytest.fixture(scope="module")
def two_push() -> Iterator[Stack]:
    """ingest, worker, feed and two push processes (``push``, ``push2``) on their own Redis,
    the public count on; a second feed (``feed2``) with it off."""
    with EmbeddedRedis(short_tmpdir()) as server:
        stack = Stack(
            server.url,
            short_tmpdir(),
            extra_env={"LIVEFEED_AUDIENCE_PUBLIC": "true", "LIVEFEED_INGEST_RATE_LIMIT": "100000"},
        ).start()
        try:
            for key in ("push2", "feed2"):
                stack.ports[key] = free_port()
            stack.start_service("push", key="push2", LIVEFEED_PUSH_PORT=str(stack.ports["push2"]))
            stack.start_service(
                "feed",
                key="feed2",
                LIVEFEED_FEED_PORT=str(stack.ports["feed2"]),
                LIVEFEED_AUDIENCE_PUBLIC="false",
            )
            stack.wait_healthy("push2")
            stack.wait_healthy("feed2")
            yield stack
        finally:
            stack.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def epoch(at: str) -> float:
    """An RFC 3339 UTC time (``…Z``) in epoch seconds."""
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def stream_url(stack: Stack, push: str) -> str:
    return f"ws://127.0.0.1:{stack.ports[push]}/v1/stream"


async def open_readers(
    exits: AsyncExitStack, url: str, count: int, params: dict[str, str]
) -> list[ClientConnection]:
    """``count`` WebSocket readers of ``url?params``, each past its hello."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    gate = asyncio.Semaphore(40)  # under the push port's handshakes-per-address cap

    async def one() -> ClientConnection:
        async with gate:
            ws = await exits.enter_async_context(
                websockets.connect(f"{url}?{query}", open_timeout=10)
            )
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "hello"
            return ws

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def audience(http: httpx.AsyncClient, base: str, token: str, **params: str) -> dict[str, Any]:
    response = await http.get(
        f"{base}/v1/audience", params=params, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    body: dict[str, Any] = response.json()
    return body


def split(body: dict[str, Any]) -> dict[tuple[str | None, str | None, str | None], tuple[int, int]]:
    """by_filter as {(section, label, lang): (readers, tabs)}."""
    return {
        (g["section"], g["label"], g["lang"]): (g["readers"], g["tabs"]) for g in body["by_filter"]
    }


async def says(
    http: httpx.AsyncClient, stack: Stack, readers: int, within: float, **fields: Any
) -> float:
    """Wait until ingest AND feed both say ``readers`` (and ``fields``); the seconds it took."""
    started = time.monotonic()

    async def both() -> bool:
        for service in ("ingest", "feed"):
            body = await audience(http, stack.url(service), stack.token)
            if body["readers"] != readers or any(body[k] != v for k, v in fields.items()):
                return False
        return True

    await eventually(both, within, f"/v1/audience says {readers} {fields}")
    return time.monotonic() - started


async def push_has_read(http: httpx.AsyncClient, stack: Stack, readers: int) -> None:
    """Both push processes have read (and recorded) the sum ``readers``."""

    async def both() -> bool:
        for key in ("push", "push2"):
            health = (await http.get(f"{stack.url(key)}/healthz")).json()
            if health["readers"] != readers:
                return False
        return True

    await eventually(both, 3 * INTERVAL, f"push processes have read {readers}")


async def test_readers_over_two_push_processes_add_up_split_leave_and_drop_out_with_a_crash(
    two_push: Stack, http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = two_push
    one, two = stream_url(stack, "push"), stream_url(stack, "push2")
    async with AsyncExitStack() as exits:
        politics = [
            *await open_readers(exits, one, 50, POLITICS),
            *await open_readers(exits, two, 50, POLITICS),
        ]
        await open_readers(exits, one, 50, BREAKING)
        await open_readers(exits, two, 50, BREAKING)
        await open_readers(exits, one, 50, UKRAINIAN)
        await open_readers(exits, two, 50, UKRAINIAN)

        # 300 readers, three filters, two processes: the sum and the split within 3 s.
        took = await says(http, stack, 300, 3.0, processes=2, tabs=400)
        body = await audience(http, stack.url("feed"), stack.token)
        assert body["connections"] == 300
        assert body["by_transport"] == {"ws": 300, "sse": 0}
        assert split(body) == {
            ("politics", None, None): (100, 100),
            (None, "breaking", None): (100, 100),
            (None, None, "uk"): (100, 200),
        }
        assert body["by_filter_rest"] == 0
        assert body["at"].endswith("Z")
        assert abs(time.time() - epoch(body["at"])) < 5
        assert body == {**await audience(http, stack.url("ingest"), stack.token), "at": body["at"]}

        # The gauge (the feed worker's /metrics).
        samples = await scrape(http, stack.url("worker"))
        assert value(samples, "livefeed_audience_readers") == 300
        assert value(samples, "livefeed_audience_tabs") == 400
        assert value(samples, "livefeed_audience_push_processes") == 2

        # A leader tab says its page now serves 5 tabs; nonsense is ignored, and the reader
        # stays connected.
        teller = politics[0]
        for junk in ('{"type":"tabs","tabs":5000}', '{"type":"tabs","tabs":true}',
                     '{"type":"tabs","tabs":"7"}', '{"type":"tabs","tabs":0}', "tabs=9", "x" * 100,
                     '{"type":"tabs","tabs":5}'):  # fmt: skip
            await teller.send(junk)
        await says(http, stack, 300, 2 * INTERVAL + 1, tabs=404)
        assert split(await audience(http, stack.url("ingest"), stack.token))[
            ("politics", None, None)
        ] == (100, 104)
        await teller.ping()  # still open

        # Readers at publication: the readers connected when a headline is first published.
        await push_has_read(http, stack, 300)
        ingest = Ingest(stack, http)
        await ingest.apply(article("aud-1", section="politics"))

        async def kept(article_id: str) -> int | None:
            client = aredis.Redis.from_url(stack.redis_url)
            try:
                return await shared_audience.readers_at_publication(client, article_id)
            finally:
                await client.aclose()

        assert await eventually(lambda: kept("aud-1"), 3, "readers at publication kept") == 300
        listed = (await audience(http, stack.url("feed"), stack.token))["headlines"]
        assert listed[0]["id"] == "aud-1"
        assert listed[0]["readers_at_publication"] == 300

        # 100 readers leave: 200 within 5 s.
        started = time.monotonic()
        await asyncio.gather(*(ws.close() for ws in politics))
        await says(http, stack, 200, 5.0 - (time.monotonic() - started), tabs=300)
        left = time.monotonic() - started
        assert ("politics", None, None) not in split(
            await audience(http, stack.url("feed"), stack.token)
        )

        # Retracted and published again with 200 reading: the first publication's 300 stay.
        await ingest.wait_applied(
            await ingest.client.delete(f"{ingest.base}/v1/articles/aud-1", headers=ingest.auth)
        )
        await push_has_read(http, stack, 200)
        await ingest.apply(article("aud-1", section="politics", version=2))
        await ingest.apply(article("aud-2", section="politics"))
        assert await eventually(lambda: kept("aud-2"), 3, "kept for aud-2") == 200
        assert await kept("aud-1") == 300

        # SSE readers are counted as sse.
        async with AsyncExitStack() as streams:
            held = []  # a stream nothing refers to is closed when collected
            for _ in range(10):
                stream = await streams.enter_async_context(
                    sse(http, f"{stack.url('push2')}/v1/events", section="world")
                )
                assert (await stream.next()).event == "hello"
                held.append(stream)
            await says(http, stack, 210, 3.0, by_transport={"ws": 200, "sse": 10})
            assert split(await audience(http, stack.url("feed"), stack.token))[
                ("world", None, None)
            ] == (10, 10)

            # push2 crashes (SIGKILL: no goodbye): its 110 readers leave the sum within the
            # expiry of its report.
            killed = time.monotonic()
            stack.services["push2"].kill()
            await says(http, stack, 100, EXPIRY + 0.5, processes=1)
            gone = time.monotonic() - killed
        body = await audience(http, stack.url("ingest"), stack.token)
        assert split(body) == {(None, "breaking", None): (50, 50), (None, None, "uk"): (50, 100)}
        assert body["by_transport"] == {"ws": 100, "sse": 0}
    with capsys.disabled():
        print(f"\naudience: 300 readers counted in {took:.2f} s, 100 gone in {left:.2f} s, "
              f"a killed process's gone in {gone:.2f} s (expiry {EXPIRY:.0f} s)")  # fmt: skip
    stack.start_service("push", key="push2", LIVEFEED_PUSH_PORT=str(stack.ports["push2"]))
    stack.wait_healthy("push2")


async def test_a_minute_keeps_the_most_readers_seen_at_once_not_each_process_s_most(
    two_push: Stack, http: httpx.AsyncClient
) -> None:
    stack = two_push
    await says(http, stack, 0, 3 * EXPIRY)

    # 20 s of the minute left, enough for what follows.
    minute = await minute_with_time_left(20)
    # Earlier tests' readers were counted in this minute: it starts again from nobody (the
    # push processes, which now see none, write 0 into it at most).
    with redis.Redis.from_url(stack.redis_url) as client:
        client.delete(keys.audience_minute(minute))
    async with AsyncExitStack() as exits:
        await open_readers(exits, stream_url(stack, "push"), 40, {})
        await says(http, stack, 40, 3.0)
        await push_has_read(http, stack, 40)
    await says(http, stack, 0, 5.0)
    async with AsyncExitStack() as exits:
        await open_readers(exits, stream_url(stack, "push2"), 40, {})
        await says(http, stack, 40, 3.0)
        await push_has_read(http, stack, 40)
        # push had 40 (then none), push2 had 40 (after): at most 40 were reading at once.
        body = await audience(http, stack.url("feed"), stack.token, minutes="1")
        assert body["minutes"][0]["readers"] == 40
    await says(http, stack, 0, 5.0)
    async with AsyncExitStack() as exits:
        await open_readers(exits, stream_url(stack, "push"), 30, {})
        await open_readers(exits, stream_url(stack, "push2"), 30, {})
        await says(http, stack, 60, 3.0)
        await push_has_read(http, stack, 60)
        # Now 60 at once, though neither process ever had more than 40.
        body = await audience(http, stack.url("feed"), stack.token, minutes="60")
        assert int(time.time() // 60) == minute, "the test ran over a minute's end"
    minutes = body["minutes"]
    assert len(minutes) == 60
    assert minutes[-1] == {"at": shared_audience.rfc3339(minute * 60), "readers": 60}
    stamps = [epoch(m["at"]) for m in minutes]
    assert stamps == [(minute - 59 + i) * 60 for i in range(60)]
    assert all(m["readers"] is None or isinstance(m["readers"], int) for m in minutes)
    ingest_minutes = await audience(http, stack.url("ingest"), stack.token, minutes="1")
    assert ingest_minutes["minutes"] == [minutes[-1]]


@pytest.mark.parametrize("service", ["ingest", "feed"])
async def test_the_audience_takes_a_token_and_names_a_bad_minutes(
    two_push: Stack, http: httpx.AsyncClient, service: str
) -> None:
    url = f"{two_push.url(service)}/v1/audience"
    missing = await http.get(url)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = await http.get(url, headers={"Authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 403
    auth = {"Authorization": f"Bearer {two_push.token}"}
    for bad in ("0", "2881", "abc", "-5", "1.5", "٣", ""):
        answer = await http.get(url, params={"minutes": bad}, headers=auth)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"][0]["field"] == "minutes"
    longest = await http.get(url, params={"minutes": "2880"}, headers=auth)
    assert longest.status_code == 200
    assert len(longest.json()["minutes"]) == 2880


async def test_the_public_count_is_the_total_only_cacheable_and_off_by_setting(
    two_push: Stack, http: httpx.AsyncClient
) -> None:
    stack = two_push
    # A report this version cannot read (another version's, damaged) is skipped, not a 500.
    garbage = redis.Redis.from_url(stack.redis_url)
    garbage.set(keys.audience_process("garbage"), b'{"readers": "many"}', px=60_000)
    garbage.zadd(keys.AUDIENCE_PROCESSES, {"garbage": int(time.time() * 1000)})
    garbage.close()
    async with AsyncExitStack() as exits:
        await open_readers(exits, stream_url(stack, "push"), 7, {"section": "sport"})
        # A stream asking with a bad tabs value is served, counted as one tab.
        await open_readers(exits, stream_url(stack, "push2"), 3, {"tabs": "lots"})
        await says(http, stack, 10, 3.0, tabs=10, processes=2)

        async def count() -> bool:
            answer = await http.get(f"{stack.url('feed')}/v1/audience/count")
            assert answer.status_code == 200
            assert answer.headers["cache-control"] == "public, max-age=5"
            body = answer.json()
            assert set(body) == {"readers"}  # the total only: nothing per filter
            return bool(body["readers"] == 10)

        await eventually(count, 3, "the public count says 10")
    off = await http.get(f"{stack.url('feed2')}/v1/audience/count")
    assert off.status_code == 404
    assert "LIVEFEED_AUDIENCE_PUBLIC" in off.json()["detail"]


async def test_a_headline_s_stats_give_its_click_through_from_the_readers_at_publication(
    two_push: Stack, http: httpx.AsyncClient
) -> None:
    """The desk's click-through: the opens of a headline over the readers connected when it
    was published (the clicks and the counts meet in ``GET /v1/articles/{id}/stats``)."""
    ingest = Ingest(two_push, http)
    async with AsyncExitStack() as exits:
        await open_readers(exits, stream_url(two_push, "push"), 3, {})
        await open_readers(exits, stream_url(two_push, "push2"), 1, {})
        await says(http, two_push, 4, 3 * INTERVAL)
        await push_has_read(http, two_push, 4)
        await ingest.apply(article("ctr-1", published_at=datetime.now().astimezone().isoformat()))
        for address in ("198.51.100.7", "198.51.100.8"):
            answer = await beacon(http, two_push, "ctr-1", address)
            assert answer.status_code == 204, answer.text

        async def counted() -> dict[str, Any] | None:
            body: dict[str, Any] = (await stats(http, two_push, "ctr-1")).json()
            return body if body["clicks"]["total"] == 2 else None

        body = await eventually(counted, 5, "both opens counted")
        assert body["readers_at_publication"] == 4
        assert body["click_through"] == 0.5
        # The desk's one answer has them too: per recent headline, and the hour's most opened.
        for service in ("ingest", "feed"):
            desk = await audience(http, two_push.url(service), two_push.token)
            recent = {h["id"]: h for h in desk["headlines"]}
            assert recent["ctr-1"]["clicks"] == 2
            assert recent["ctr-1"]["click_through"] == 0.5
            assert desk["top"][0]["id"] == "ctr-1"
            assert desk["top"][0]["clicks"] == 2
