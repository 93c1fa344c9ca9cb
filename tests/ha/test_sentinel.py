"""Sentinel everywhere: every service finds the primary through the sentinels and follows it
across a failover (real redis-server primary, replicas and sentinels; real services)."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.ha.conftest import HaStackFactory
from tests.ha.topology import SentinelGroup
from tests.helpers import Feed, Ingest, article, eventually, subscribe

pytestmark = pytest.mark.slow


async def test_services_follow_the_primary_across_a_failover(
    group: SentinelGroup, ha_stack: HaStackFactory
) -> None:
    stack = ha_stack()
    async with httpx.AsyncClient(timeout=10) as http:
        ingest, feed = Ingest(stack, http), Feed(stack, http)
        first = await ingest.apply(article("ha-1"))
        assert first[0]["outcome"] == "published"
        hello_id = (await feed.timeline())["event_id"]
        async with subscribe(stack.ws_url, since=hello_id) as stream:
            assert (await stream.next())["type"] == "hello"
            old = group.primary()
            old.signal(signal.SIGKILL)

            async def promoted() -> bool:
                return group.primary() is not old

            await eventually(promoted, timeout=30, what="a replica promoted")

            async def accepted() -> httpx.Response | None:
                response = await ingest.post(article("ha-2"))
                return response if response.status_code == 202 else None

            await ingest.wait_applied(
                await eventually(accepted, timeout=30, what="ingest 202 again"), timeout=30
            )
            frame = await stream.next(timeout=30)
            assert frame["type"] == "published"
            assert frame["headline"]["id"] == "ha-2"
        assert sorted(await feed.ids()) == ["ha-1", "ha-2"]
        for name in ("ingest", "feed", "push", "worker"):
            stack.wait_healthy(name)
