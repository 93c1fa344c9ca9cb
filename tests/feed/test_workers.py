"""LIVEFEED_FEED_WORKERS: several feed processes on one port, each with its own view cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.helpers import Ingest, article
from tests.ops.metrics_client import scrape, value
from tests.procs import Stack, free_port, wait_for


def _serving(pid: int) -> bool:
    return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()


def _workers(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return [child for child in found if _serving(child)]


async def test_two_feed_workers_serve_current_views_and_count_as_one(
    fresh: Stack, ingest: Ingest
) -> None:
    port = free_port()
    service = fresh.start_service(
        "feed", key="feed-workers", LIVEFEED_FEED_PORT=str(port), LIVEFEED_FEED_WORKERS="2"
    )
    base = f"http://127.0.0.1:{port}"
    try:
        fresh.wait_healthy("feed", port=port)
        assert service.process is not None
        pid = service.process.pid
        wait_for(lambda: len(_workers(pid)) == 2, 15)

        async def timeline_ids() -> set[str]:
            # A new connection per request: the kernel hands each to whichever worker accepts.
            async with httpx.AsyncClient(timeout=10) as client:
                body = (await client.get(f"{base}/v1/timeline")).json()
            return {item["id"] for day in body["days"] for item in day["items"]}

        reads = 0
        for n in range(5):
            await ingest.apply(article(f"fw-{n}"))
            # Whichever worker answers, and however warm its cache, the change is there.
            seen = await asyncio.gather(*(timeline_ids() for _ in range(8)))
            reads += 8
            assert all(f"fw-{n}" in ids for ids in seen)
        async with httpx.AsyncClient(timeout=10) as client:
            samples = await scrape(client, base)
        served = value(
            samples,
            "livefeed_http_requests_total",
            route="/v1/timeline",
            method="GET",
            status="200",
        )
        assert served == reads  # both workers' counts, from either
        hits = value(samples, "livefeed_feed_views_total", result="hit")
        misses = value(samples, "livefeed_feed_views_total", result="miss")
        assert hits + misses == reads
    finally:
        exit_code = service.stop()
    assert exit_code == 0
