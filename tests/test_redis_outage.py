"""Redis goes away and comes back: ingest says 503 (never 202), everything recovers by itself."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.helpers import Feed, Ingest, article, eventually, subscribe
from tests.procs import Stack


@pytest.fixture
def own_stack() -> Iterator[tuple[Stack, EmbeddedRedis]]:
    """A stack on a Redis of its own, which this test may stop."""
    server = EmbeddedRedis(short_tmpdir())
    server.start()
    running = Stack(server.url, short_tmpdir()).start()
    yield running, server
    running.stop()
    server.stop()


async def _ready(client: httpx.AsyncClient, url: str) -> int:
    return (await client.get(f"{url}/readyz")).status_code


async def test_redis_down_means_503_and_recovery_loses_nothing(
    own_stack: tuple[Stack, EmbeddedRedis],
) -> None:
    stack, server = own_stack
    async with httpx.AsyncClient(timeout=10) as client:
        ingest, feed = Ingest(stack, client), Feed(stack, client)
        async with subscribe(stack.ws_url) as stream:
            await stream.next()
            await ingest.apply(article("before-outage"))
            assert (await stream.next())["headline"]["id"] == "before-outage"

            server.stop()
            refused = await ingest.post(article("during-outage"))
            assert refused.status_code == 503
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.headers["retry-after"]
            assert await _ready(client, stack.url("ingest")) == 503
            assert await _ready(client, stack.url("feed")) == 503

            server.start()
            for name in ("ingest", "feed", "push"):

                async def ready(url: str = stack.url(name)) -> bool:
                    return await _ready(client, url) == 200

                await eventually(ready, 20, f"{name} ready again", interval=0.1)
            # The same WebSocket, never reconnected, gets what is posted after the recovery.
            for n in range(3):
                await ingest.apply(article(f"after-{n}"))
            got = [(await stream.next(timeout=15))["headline"]["id"] for _ in range(3)]
            assert got == ["after-0", "after-1", "after-2"]
        assert "during-outage" not in await feed.ids()
        assert "before-outage" in await feed.ids()
