"""One reader stops reading among hundreds that read: it is cut off, nobody else notices.

The slow one is a raw socket that completes the WebSocket handshake and then never reads
(with a tiny receive buffer, so the kernel cannot hide it). The readers live in another
process (tests/reliability/crowd.py) and time every event's arrival.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import time
from typing import Any

import httpx
import pytest

from tests.helpers import Ingest, article, reader_that_never_reads
from tests.procs import REPO
from tests.reliability.conftest import StackFactory, rss_kib

READERS = 200
BATCH = 10
QUIET_BATCHES = 3
LOUD_BATCHES = 15
BUFFER = 64 * 1024


def _slow_closed(metrics: str) -> float:
    match = re.search(r"^livefeed_push_slow_clients_closed_total (\S+)$", metrics, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_stalled_reader_is_cut_off_and_the_others_do_not_notice(
    make_stack: StackFactory,
) -> None:
    stack, _server = make_stack(LIVEFEED_CLIENT_BUFFER_BYTES=str(BUFFER))
    push = stack.services["push"].process
    assert push is not None
    total = (QUIET_BATCHES + LOUD_BATCHES) * BATCH
    crowd = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tests.reliability.crowd", stack.ws_url, str(READERS), str(total)],
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with httpx.AsyncClient(timeout=10) as http:
        ingest = Ingest(stack, http)
        metrics_url = f"{stack.url('push')}/metrics"
        deadline = time.monotonic() + 60
        while (await http.get(f"{stack.url('push')}/healthz")).json()["clients"] < READERS:
            assert time.monotonic() < deadline, "the readers did not connect"
            await asyncio.sleep(0.1)

        posted_at: list[float] = []

        async def post_batch(n: int) -> None:
            posted_at.append(time.time())
            await ingest.apply(
                {
                    "articles": [
                        article(f"s{n}-{i}", summary="About two kilobytes of summary. " * 60)
                        for i in range(BATCH)
                    ]
                }
            )

        for n in range(QUIET_BATCHES):
            await post_batch(n)
        rss_before = rss_kib(push.pid)
        stalled = reader_that_never_reads(stack.ports["push"])
        for n in range(QUIET_BATCHES, QUIET_BATCHES + LOUD_BATCHES):
            await post_batch(n)
        deadline = time.monotonic() + 15
        while _slow_closed((await http.get(metrics_url)).text) < 1:
            assert time.monotonic() < deadline, "the stalled reader was never cut off"
            await asyncio.sleep(0.1)
        rss_after = rss_kib(push.pid)
    out, err = await asyncio.wait_for(crowd.communicate(), 120)
    assert crowd.returncode == 0, err.decode()[-2000:]
    result: dict[str, Any] = json.loads(out.decode().splitlines()[-1])
    assert result["failed"] == 0, result["failures"]

    # Every reader got every event, in order; latency per batch: post -> its last event.
    expected = [f"s{n}-{i}" for n in range(QUIET_BATCHES + LOUD_BATCHES) for i in range(BATCH)]
    per_batch: list[list[float]] = [[] for _ in posted_at]
    for client in result["clients"]:
        assert client["ids"] == expected
        for n, sent in enumerate(posted_at):
            per_batch[n].append(client["at"][(n + 1) * BATCH - 1] - sent)
    p99 = [statistics.quantiles(lat, n=100)[98] for lat in per_batch]
    quiet = max(p99[1:QUIET_BATCHES])  # the first batch warms up
    loud = statistics.median(p99[QUIET_BATCHES:])
    print(f"p99 per batch (s): quiet {quiet:.3f}, with a stalled reader {loud:.3f}")
    print(f"push RSS {rss_before} KiB -> {rss_after} KiB")
    assert loud < 2 * quiet + 0.1, "the stalled reader slowed the others"
    assert rss_after - rss_before < 16 * 1024, "push memory grew with the stalled reader"

    # The stalled reader finds its connection closed: a 1008 close frame if it got through,
    # else the abort that follows it.
    stalled.settimeout(10)
    data = b""
    try:
        while chunk := stalled.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        stalled.close()
    assert len(data) < 4 * BUFFER + 1024 * 1024, "the stalled reader's data was not bounded"
