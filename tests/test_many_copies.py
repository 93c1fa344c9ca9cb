"""The compose topology as plain processes: 2 workers, 2 push, 1 ingest, 1 feed on one Redis.

500 items posted at once are each applied exactly once, and readers on either push process
see every event once, in the same order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from shared import keys
from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.helpers import Stream, article, subscribe
from tests.ops.metrics_client import scrape, value
from tests.procs import Stack, free_port

ITEMS = 500


@pytest.fixture(scope="module")
def topology() -> Iterator[Stack]:
    """Its own Redis, so that no other test's worker takes a share of the jobs."""
    with EmbeddedRedis(short_tmpdir()) as server:
        stack = Stack(server.url, short_tmpdir()).start()
        try:
            stack.ports["worker2"] = free_port()
            stack.ports["push2"] = free_port()
            stack.start_service(
                "worker", key="worker2", LIVEFEED_WORKER_METRICS_PORT=str(stack.ports["worker2"])
            )
            stack.start_service("push", key="push2", LIVEFEED_PUSH_PORT=str(stack.ports["push2"]))
            stack.wait_healthy("worker2")
            stack.wait_healthy("push2")
            yield stack
        finally:
            stack.stop()


async def _collect(stream: Stream, count: int) -> list[dict[str, Any]]:
    return await stream.take(count, timeout=60)


async def test_500_concurrent_items_are_applied_once_and_reach_both_push_processes_in_order(
    topology: Stack,
) -> None:
    ids = [f"copy-{n:03d}" for n in range(ITEMS)]
    urls = [
        f"ws://127.0.0.1:{topology.ports['push']}/v1/stream",
        f"ws://127.0.0.1:{topology.ports['push2']}/v1/stream",
    ]
    auth = {"Authorization": f"Bearer {topology.token}"}
    limits = httpx.Limits(max_connections=50)
    async with (
        httpx.AsyncClient(timeout=30, limits=limits) as http,
        subscribe(urls[0]) as a1,
        subscribe(urls[0]) as a2,
        subscribe(urls[1]) as b1,
        subscribe(urls[1]) as b2,
    ):
        readers = [a1, a2, b1, b2]
        for reader in readers:
            assert (await reader.next())["type"] == "hello"
        collecting = [asyncio.create_task(_collect(r, ITEMS)) for r in readers]

        async def post(article_id: str) -> httpx.Response:
            return await http.post(
                f"{topology.url('ingest')}/v1/articles",
                json=article(article_id, section="news"),
                headers=auth,
            )

        responses = await asyncio.gather(*(post(i) for i in ids))
        assert [r.status_code for r in responses] == [202] * ITEMS
        received = await asyncio.gather(*collecting)

        # Every job finished with exactly one outcome, published.
        async def outcome(response: httpx.Response) -> list[Any]:
            job = response.json()["job_id"]
            report = (
                await http.get(f"{topology.url('ingest')}/v1/jobs/{job}", headers=auth)
            ).json()
            assert report["status"] == "finished", report
            results: list[Any] = report["results"]
            return results

        outcomes = await asyncio.gather(*(outcome(r) for r in responses))
        assert [o[0]["outcome"] for o in outcomes] == ["published"] * ITEMS
        assert sorted(o[0]["id"] for o in outcomes) == ids

        # The event log holds one published event per item, no more.
        client = redis.Redis.from_url(topology.redis_url)
        try:
            entries = client.xrange(keys.EVENTS)
        finally:
            client.close()
        log_order = [fields[b"id"].decode() for _id, fields in entries]
        assert sorted(log_order) == ids
        assert {fields[b"type"] for _id, fields in entries} == {b"published"}

        # Each reader, on either process, got every event once, in the log's order.
        for frames in received:
            assert [f["type"] for f in frames] == ["published"] * ITEMS
            assert [f["headline"]["id"] for f in frames] == log_order
            event_ids = [f["event_id"] for f in frames]
            assert event_ids == [raw.decode() for raw, _fields in entries]
        # Nothing more arrives after the last one (no duplicates trailing behind).
        for reader in readers:
            with pytest.raises(TimeoutError):
                await reader.next(timeout=0.3)

        # Both workers took a share: the queue really was worked by two copies.
        shares = [
            value(await scrape(http, topology.url(name)), "livefeed_jobs_total", result="finished")
            for name in ("worker", "worker2")
        ]
        assert sum(shares) == ITEMS
        assert all(share > 0 for share in shares), shares
