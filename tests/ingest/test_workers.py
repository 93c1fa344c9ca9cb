"""LIVEFEED_INGEST_WORKERS: several ingest processes on one port, answering as one service."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from tests.helpers import Feed, Ingest, article
from tests.ops.metrics_client import scrape, value
from tests.procs import Stack, free_port, wait_for


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _log(path: Path) -> str:
    return path.read_text(errors="replace")


def _accepted_by(pid: int) -> float:
    """Items one worker process accepted, read from its own counter file alone."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    [folder] = [e.split(b"=", 1)[1] for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    counters = Path(folder.decode()) / f"counter_{pid}.db"
    if not counters.exists():
        return 0.0
    for metric in MultiProcessCollector.merge([str(counters)]):
        for sample in metric.samples:
            if sample.name == "livefeed_ingest_items_total" and sample.labels == {
                "status": "accepted"
            }:
                return float(sample.value)
    return 0.0


def _serving(pid: int) -> bool:
    # A worker's command line is multiprocessing's spawn_main; its resource tracker is not one.
    return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()


async def test_two_workers_share_the_port_and_count_as_one_service(
    fresh: Stack, ingest: Ingest, feed: Feed
) -> None:
    port = free_port()
    service = fresh.start_service(
        "ingest", key="ingest-workers", LIVEFEED_INGEST_PORT=str(port), LIVEFEED_INGEST_WORKERS="2"
    )
    try:
        fresh.wait_healthy("ingest", port=port)
        assert service.process is not None
        wait_for(lambda: len([p for p in _children(service.process.pid) if _serving(p)]) == 2, 15)
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {fresh.token}"}

        async def post(n: int) -> httpx.Response:
            # A new connection per request: the kernel hands each to whichever worker accepts.
            async with httpx.AsyncClient(timeout=10) as client:
                return await client.post(
                    f"{base}/v1/articles", json=article(f"w-{n}"), headers=auth
                )

        answers = await asyncio.gather(*(post(n) for n in range(20)))
        assert [a.status_code for a in answers] == [202] * 20
        for answer in answers:
            [applied] = await ingest.wait_applied(answer)
            assert applied["outcome"] == "published"
        assert sorted(await feed.ids(limit=50)) == sorted(f"w-{n}" for n in range(20))

        # Post until each worker has accepted some (its own counter file says so), then
        # whichever worker a scrape reaches reports what all of them did.
        workers = [p for p in _children(service.process.pid) if _serving(p)]
        posted = 20
        while min(_accepted_by(pid) for pid in workers) == 0:
            assert posted < 400, "the kernel never handed the second worker a connection"
            more = await asyncio.gather(*(post(n) for n in range(posted, posted + 10)))
            assert [a.status_code for a in more] == [202] * 10
            posted += 10
        assert sum(_accepted_by(pid) for pid in workers) == posted
        for _ in range(6):
            async with httpx.AsyncClient(timeout=10) as client:
                samples = await scrape(client, base)
            assert value(samples, "livefeed_ingest_items_total", status="accepted") == posted
            assert (
                value(
                    samples,
                    "livefeed_http_requests_total",
                    route="/v1/articles",
                    method="POST",
                    status="202",
                )
                == posted
            )
    finally:
        exit_code = service.stop()
    # SIGTERM: both workers finish their requests and stop, then the parent exits cleanly.
    assert exit_code == 0
    assert _log(service.log_path).count("Finished server process") == 2
