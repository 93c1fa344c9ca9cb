"""Redis SIGKILLed while items are posted: every item answered 202 is there after a restart.

The embedded Redis keeps an append-only file written before each reply (``appendfsync
always`` also fsyncs it, so a power cut loses nothing either; a process kill, tested here,
is survived by the append-only file itself).
"""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest
import redis

from shared import keys
from tests.helpers import article
from tests.procs import wait_for
from tests.reliability.conftest import StackFactory

POSTS = 400
KILL_AFTER = 150


async def test_every_202_survives_redis_sigkill(make_stack: StackFactory) -> None:
    stack, server = make_stack(
        services=("ingest", "worker", "feed"), LIVEFEED_JOB_TIMEOUT="2", LIVEFEED_REDIS_TIMEOUT="1"
    )
    accepted: list[str] = []
    refused: list[int] = []
    killed = asyncio.Event()
    auth = {"Authorization": f"Bearer {stack.token}"}

    async def post(http: httpx.AsyncClient, n: int) -> None:
        try:
            response = await http.post(
                f"{stack.url('ingest')}/v1/articles", json=article(f"r-{n}"), headers=auth
            )
        except httpx.HTTPError:
            refused.append(-1)
            return
        if response.status_code == 202:
            accepted.append(f"r-{n}")
        else:
            assert response.status_code == 503, response.text
            refused.append(response.status_code)
        if len(accepted) == KILL_AFTER and not killed.is_set():
            assert server.process is not None
            server.process.send_signal(signal.SIGKILL)  # mid-stream, other posts in flight
            killed.set()

    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:
        gate = asyncio.Semaphore(16)

        async def gated(n: int) -> None:
            async with gate:
                await post(http, n)

        await asyncio.gather(*(gated(n) for n in range(POSTS)))
    assert killed.is_set()
    assert server.process is not None
    server.process.wait()
    assert refused, "Redis died but nothing was refused"
    server.start()  # same data folder: loads the append-only file

    client = redis.Redis.from_url(server.url)
    try:
        wait_for(
            lambda: all(client.hexists(keys.article(i), "doc") for i in accepted),
            timeout=40,
            interval=0.2,
        )
    except AssertionError:
        missing = [i for i in accepted if not client.hexists(keys.article(i), "doc")]
        queued = client.llen("rq:queue:livefeed")
        raise AssertionError(
            f"missing {len(missing)} {missing[:5]}, {queued} jobs queued\n{stack.logs()}"
        ) from None
    worker = stack.services["worker"].process
    assert worker is not None
    assert worker.poll() is None, "the worker died with Redis"
    on_timeline = {m.decode() for m in client.zrange(keys.TIMELINE, 0, -1)}
    missing = set(accepted) - on_timeline
    assert not missing, f"{len(missing)} item(s) answered 202 are lost"
    published = [
        f[b"id"].decode() for _i, f in client.xrange(keys.EVENTS) if f[b"type"] == b"published"
    ]
    assert len(published) == len(set(published)), "an item was published twice"
    print(f"202: {len(accepted)}, refused: {len(refused)}, lost: 0")
    client.close()


pytestmark = pytest.mark.timeout(120)
