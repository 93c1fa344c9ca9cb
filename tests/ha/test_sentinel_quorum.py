"""Sentinels lost, then the primary with no quorum to replace it: ingest 503, every /readyz
fails; the primary back: everything recovers by itself."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.ha.conftest import HaStackFactory
from tests.ha.topology import SentinelGroup
from tests.helpers import Feed, Ingest, article, eventually

pytestmark = pytest.mark.slow

SERVICES = ("ingest", "feed", "push", "worker")


async def test_sentinels_down_then_no_primary_then_recovery(
    group: SentinelGroup, ha_stack: HaStackFactory
) -> None:
    stack = ha_stack()
    async with httpx.AsyncClient(timeout=30) as http:
        ingest, feed = Ingest(stack, http), Feed(stack, http)

        async def ready(name: str) -> int:
            return (await http.get(f"{stack.url(name)}/readyz")).status_code

        group.watchers[0].stop()
        assert (await ingest.apply(article("q-1")))[0]["outcome"] == "published"
        group.watchers[1].stop()  # one sentinel of three: no quorum, but the primary stands
        assert (await ingest.apply(article("q-2")))[0]["outcome"] == "published"
        assert [await ready(name) for name in SERVICES] == [200, 200, 200, 200]

        primary = group.primary()
        primary.signal(signal.SIGKILL)  # and no quorum to promote a replica: no primary at all

        async def refused() -> httpx.Response | None:
            response = await ingest.post(article("q-3"))
            return response if response.status_code == 503 else None

        answer = await eventually(refused, timeout=40, what="ingest 503 without a primary")
        assert answer.headers["content-type"].startswith("application/problem+json")

        async def none_ready() -> bool:
            return all([await ready(name) == 503 for name in SERVICES])

        await eventually(none_ready, timeout=30, what="every /readyz failing")

        primary.start()  # the same machine back, with its append-only file

        async def all_ready() -> bool:
            return all([await ready(name) == 200 for name in SERVICES])

        await eventually(all_ready, timeout=40, what="every service ready again")
        outcome = await ingest.apply(article("q-4"))
        assert outcome[0]["outcome"] == "published"
        assert sorted(await feed.ids()) == ["q-1", "q-2", "q-4"]
