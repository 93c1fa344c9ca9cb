"""``LIVEFEED_REDIS_MIN_REPLICAS``: 202 only once a replica holds the job too."""

from __future__ import annotations

import httpx
import pytest

from tests.ha.conftest import HaStackFactory
from tests.ha.topology import SentinelGroup
from tests.helpers import Feed, Ingest, article, eventually

pytestmark = pytest.mark.slow


async def test_no_replica_no_202(group: SentinelGroup, ha_stack: HaStackFactory) -> None:
    stack = ha_stack(LIVEFEED_REDIS_MIN_REPLICAS="1", LIVEFEED_REDIS_WAIT_MS="300")
    async with httpx.AsyncClient(timeout=10) as http:
        ingest, feed = Ingest(stack, http), Feed(stack, http)
        # Replicated: 202, and the worker's apply is acknowledged too (the job finishes).
        outcome = await ingest.apply(article("mr-1"))
        assert outcome[0]["outcome"] == "published"

        primary = group.primary()
        for node in group.data:
            if node is not primary:
                node.stop()
        response = await ingest.post(article("mr-2"), **{"Idempotency-Key": "mr-2-key"})
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert "0 of the 1 Redis replica(s)" in problem["detail"]
        assert problem["errors"] == [{"field": "replicas", "reason": "0 of 1"}]
        assert response.headers["Retry-After"]
        # Redis itself is reachable: ingest stays ready (this is not an outage).
        assert (await http.get(f"{stack.url('ingest')}/readyz")).status_code == 200

        # The worker's apply of that job is not acknowledged either: the job fails (and is
        # retried) instead of being reported finished.
        async def job_failed() -> bool:
            metrics = (await http.get(f"{stack.url('worker')}/metrics")).text
            return 'livefeed_jobs_total{result="failed"} 1.0' in metrics

        await eventually(job_failed, timeout=15, what="the unreplicated apply failed")

        for node in group.data:
            if node is not primary:
                node.start()
        await eventually(lambda: _connected(group), timeout=20, what="replicas back and in sync")
        # The retry (same Idempotency-Key) runs again rather than replaying the 503. The job
        # answered 503 stayed queued on the primary and may have run meanwhile (the worker's
        # own WAIT failed, so RQ retried it until the replicas were back): then the retry is
        # `unchanged` (200); else it is queued again (202). Either way: on the timeline once.
        retry = await ingest.post(article("mr-2"), **{"Idempotency-Key": "mr-2-key"})
        assert "Idempotent-Replayed" not in retry.headers
        if retry.status_code == 202:
            await ingest.wait_applied(retry, timeout=30)
        else:
            assert retry.status_code == 200, retry.text
            assert retry.json()["results"][0]["status"] == "unchanged"
        assert sorted(await feed.ids()) == ["mr-1", "mr-2"]


async def _connected(group: SentinelGroup) -> bool:
    return group.replicas_connected() == group.replicas
