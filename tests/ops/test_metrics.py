"""/metrics on every service: what an operator graphs and alerts on moves when work happens."""

from __future__ import annotations

import httpx

from shared.metrics import STAGES
from tests.helpers import Feed, Ingest, article, subscribe
from tests.ops.metrics_client import scrape, value
from tests.procs import Stack


async def test_every_service_reports_what_happened(
    ingest: Ingest, feed: Feed, fresh: Stack, http: httpx.AsyncClient
) -> None:
    bases = {name: fresh.url(name) for name in ("ingest", "feed", "push", "worker")}
    before = {name: await scrape(http, base) for name, base in bases.items()}

    async with subscribe(fresh.ws_url) as stream:
        assert (await stream.next())["type"] == "hello"
        during = await scrape(http, bases["push"])
        assert value(during, "livefeed_push_clients", transport="ws") >= 1
        outcomes = await ingest.apply(article("metered", version=1))
        assert outcomes[0]["outcome"] == "published"
        assert (await stream.next())["headline"]["id"] == "metered"
        assert (await ingest.apply(article("metered", version=2)))[0]["outcome"] == "updated"
        assert (await stream.next())["type"] == "updated"
        await feed.timeline()
        after = {name: await scrape(http, base) for name, base in bases.items()}

    def grew(service: str, name: str, by: float = 1, **labels: str) -> bool:
        return value(after[service], name, **labels) - value(before[service], name, **labels) >= by

    # Requests by route template and status, on both HTTP services.
    assert grew("ingest", "livefeed_http_requests_total", 2,
                route="/v1/articles", method="POST", status="202")  # fmt: skip
    assert grew("feed", "livefeed_http_requests_total",
                route="/v1/timeline", method="GET", status="200")  # fmt: skip
    assert grew("ingest", "livefeed_ingest_items_total", 2, status="accepted")
    # The worker: jobs, outcomes, durations, and the Redis state read at scrape time.
    assert grew("worker", "livefeed_jobs_total", 2, result="finished")
    assert grew("worker", "livefeed_items_applied_total", outcome="published")
    assert grew("worker", "livefeed_items_applied_total", outcome="updated")
    assert grew("worker", "livefeed_job_duration_seconds_count", 2)
    assert value(after["worker"], "livefeed_timeline_items") == 1  # the fresh timeline + 1
    assert value(after["worker"], "livefeed_queue_jobs", queue="livefeed", state="queued") == 0
    assert value(after["worker"], "livefeed_redis_up") == 1
    # Push: two events, a frame each to our client, and how fresh it was when written.
    assert grew("push", "livefeed_push_events_total", 2)
    assert grew("push", "livefeed_push_frames_sent_total", 2, transport="ws")
    assert grew("push", "livefeed_push_freshness_seconds_count", 2)
    assert value(after["push"], "livefeed_redis_up") == 1
    fresh_sum = value(after["push"], "livefeed_push_freshness_seconds_sum") - value(
        before["push"], "livefeed_push_freshness_seconds_sum"
    )
    assert 0 <= fresh_sum < 5, "acceptance to frame sent took seconds"
    # Where the time went: each stage of POST -> frame, timed where it happens, twice.
    homes = {"request": "ingest", "enqueue": "ingest", "queue": "worker", "apply": "worker",
             "wake": "push", "fanout": "push"}  # fmt: skip
    assert set(homes) == set(STAGES)
    for stage, service in homes.items():
        assert grew(service, "livefeed_stage_seconds_count", 2, stage=stage), stage
        took = value(after[service], "livefeed_stage_seconds_sum", stage=stage) - value(
            before[service], "livefeed_stage_seconds_sum", stage=stage
        )
        assert 0 <= took < 5, (stage, took)


async def test_unknown_paths_share_one_metric_label(fresh: Stack, http: httpx.AsyncClient) -> None:
    for n in range(3):
        assert (await http.get(f"{fresh.url('feed')}/probe-{n}")).status_code == 404
    samples = await scrape(http, fresh.url("feed"))
    assert value(samples, "livefeed_http_requests_total",
                 route="unmatched", method="GET", status="404") >= 3  # fmt: skip
    assert not any("probe-" in str(labels) for _name, labels in samples)


async def test_worker_port_answers_health_and_refuses_other_paths(
    fresh: Stack, http: httpx.AsyncClient
) -> None:
    base = fresh.url("worker")
    assert (await http.get(f"{base}/healthz")).json() == {"status": "ok"}
    ready = await http.get(f"{base}/readyz")
    assert ready.status_code == 200
    assert ready.json()["redis"] == "ok"
    missing = await http.get(f"{base}/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
