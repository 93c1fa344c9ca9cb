"""Many readers resuming at once (after a push restart or a network blip) all catch up exactly."""

from __future__ import annotations

import asyncio
import json

import websockets

from tests.helpers import Feed, Ingest, article
from tests.procs import Stack, free_port

CLIENTS = 300
MISSED = 40


async def _resume(url: str, since: str, count: int) -> list[str]:
    """Connect with ``since``; return the event ids of the first ``count`` events after hello."""
    async with websockets.connect(f"{url}?since={since}", open_timeout=20) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert hello["type"] == "hello"
        got = []
        for _ in range(count):
            message = json.loads(await asyncio.wait_for(ws.recv(), 20))
            assert message["type"] == "published", message
            got.append(message["headline"]["id"])
        return got


async def _storm(url: str, since: str, expected: list[str]) -> None:
    results = await asyncio.gather(*(_resume(url, since, len(expected)) for _ in range(CLIENTS)))
    assert all(got == expected for got in results)


async def test_hundreds_resuming_at_once_each_get_every_missed_event_once(
    ingest: Ingest, feed: Feed, fresh: Stack
) -> None:
    await ingest.apply(article("before-storm"))
    since = (await feed.timeline())["event_id"]
    missed = [f"storm-{n:03d}" for n in range(MISSED)]
    await ingest.apply({"articles": [article(a) for a in missed]})

    await _storm(fresh.ws_url, since, missed)


async def test_a_storm_reaching_back_past_memory_reads_redis_without_refusing_anyone(
    ingest: Ingest, feed: Feed, fresh: Stack
) -> None:
    # This push process keeps only 10 events in memory, so every resume below reads Redis:
    # hundreds of catch-ups at once must queue for Redis, not fail with 1011.
    port = free_port()
    small = fresh.start_service(
        "push", key="push-small", LIVEFEED_PUSH_PORT=str(port), LIVEFEED_STREAM_MAXLEN="10"
    )
    try:
        fresh.wait_healthy("push-small", port=port)
        await ingest.apply(article("before-storm"))
        since = (await feed.timeline())["event_id"]
        missed = [f"deep-{n:03d}" for n in range(MISSED)]
        await ingest.apply({"articles": [article(a) for a in missed]})

        await _storm(f"ws://127.0.0.1:{port}/v1/stream", since, missed)
        assert "1011" not in (fresh.workdir / "push-small.log").read_text()
    finally:
        small.stop()
