"""The scaled-out topology on one Redis through Sentinel: 8 push, 2 feed, 2 ingest, 3 workers.

8,000 readers (1,000 per push process, each crowd a process of its own) subscribe ``since`` the
stream's newest id, articles are posted through both ingest processes, and every reader must
get every event exactly once, in the stream's order; both feed processes serve the result.
"""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from tests.conftest import short_tmpdir
from tests.ha.topology import SentinelGroup
from tests.helpers import article, http_client
from tests.procs import Stack, free_port

pytestmark = pytest.mark.slow

PUSH, FEED, INGEST, WORKERS = 8, 2, 2, 3
READERS_PER_PUSH = 1_000
EVENTS = 20


async def test_eight_push_two_feed_two_ingest_three_workers_through_sentinel(
    group: SentinelGroup,
) -> None:
    stack = Stack(
        group.url,
        short_tmpdir(),
        extra_env={
            **group.env(),
            # One address, as through a proxy: that address's caps are raised.
            "LIVEFEED_MAX_CONNECTIONS_PER_IP": str(READERS_PER_PUSH * 2),
            "LIVEFEED_PUSH_MAX_HANDSHAKING_PER_IP": str(READERS_PER_PUSH * 2),
            "LIVEFEED_PUSH_MAX_HANDSHAKING": str(READERS_PER_PUSH * 2),
        },
    )
    for name in ("ingest", "feed", "push", "worker"):
        stack.ports.setdefault(name, free_port())
    ports = {f"{kind}{n}": free_port() for kind in ("push", "feed", "ingest") for n in range(8)}
    try:
        for n in range(PUSH):
            stack.start_service("push", key=f"push{n}", LIVEFEED_PUSH_PORT=str(ports[f"push{n}"]))
        for n in range(FEED):
            stack.start_service("feed", key=f"feed{n}", LIVEFEED_FEED_PORT=str(ports[f"feed{n}"]))
        for n in range(INGEST):
            stack.start_service(
                "ingest", key=f"ingest{n}", LIVEFEED_INGEST_PORT=str(ports[f"ingest{n}"])
            )
        for n in range(WORKERS):
            stack.start_service(
                "worker", key=f"worker{n}", LIVEFEED_WORKER_METRICS_PORT=str(free_port())
            )
        for kind, count in (("push", PUSH), ("feed", FEED), ("ingest", INGEST)):
            for n in range(count):
                stack.wait_healthy(kind, port=ports[f"{kind}{n}"], timeout=30)

        async with http_client() as http:
            feed0 = f"http://127.0.0.1:{ports['feed0']}"
            since = (await http.get(f"{feed0}/v1/timeline")).json()["event_id"]
            crowds = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "tests.reliability.crowd",
                    f"ws://127.0.0.1:{ports[f'push{n}']}/v1/stream",
                    str(READERS_PER_PUSH),
                    str(EVENTS),
                    since,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                for n in range(PUSH)
            ]
            auth = {"Authorization": f"Bearer {stack.token}"}
            for n in range(EVENTS):
                ingest = f"http://127.0.0.1:{ports[f'ingest{n % INGEST}']}"
                posted = await http.post(
                    f"{ingest}/v1/articles", json=article(f"scale-{n}"), headers=auth
                )
                assert posted.status_code == 202, posted.text
            outputs = await asyncio.wait_for(
                asyncio.gather(*(crowd.communicate() for crowd in crowds)), 240
            )
            # The stream's own order: what every reader must have seen.
            order = [
                entry[1][b"id"].decode()
                for entry in group.primary_client().xrange("lf:events", f"({since}", "+")
            ]
            assert sorted(order) == sorted(f"scale-{n}" for n in range(EVENTS))
            total = comebacks = 0
            for crowd, (out, err) in zip(crowds, outputs, strict=True):
                assert crowd.returncode == 0, err.decode()[-2000:]
                result = json.loads(out.decode().strip().splitlines()[-1])
                assert result["failed"] == 0, result["failures"]
                for client in result["clients"]:
                    assert client["ids"] == order  # each once, in the stream's order
                    total += 1
                    comebacks += client["comebacks"]
            assert total == PUSH * READERS_PER_PUSH
            print(f"\nscale: {total} readers got all {EVENTS} events; {comebacks} came back")

            for n in range(FEED):
                body = (await http.get(f"http://127.0.0.1:{ports[f'feed{n}']}/v1/timeline")).json()
                shown = {item["id"] for day in body["days"] for item in day["items"]}
                assert shown == set(order)
    finally:
        stack.stop()
