"""One item never sinks the others: dates the zone cannot show are refused by ingest, and an
item that is bad by the time the worker reads it is answered on its own."""

from __future__ import annotations

import pytest
import redis

from services.ingest.queueing import Enqueuer
from shared.settings import Settings
from tests.helpers import Feed, Ingest, article, eventually
from tests.procs import Stack


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("published_at", "9999-12-31T23:30:00+00:00"),
        ("published_at", "0001-01-01T00:00:00+05:00"),
        ("published_at", "0001-01-01T00:00:00-05:00"),
        ("updated_at", "9999-12-31T23:59:59-14:00"),
        ("embargoed_until", "9999-12-31T23:00:00+00:00"),
    ],
)
async def test_a_date_the_zone_cannot_show_is_rejected_by_name_and_the_rest_applied(
    ingest: Ingest, feed: Feed, field: str, value: str
) -> None:
    bad = article("edge-bad", **{field: value})
    response = await ingest.post({"articles": [article("edge-before"), bad, article("edge-after")]})
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["errors"][0]["field"] == f"articles[1].{field}"
    outcomes = await ingest.wait_applied(response)
    assert [o["outcome"] for o in outcomes] == ["published", "published"]
    assert sorted(await feed.ids()) == ["edge-after", "edge-before"]


async def test_dates_at_the_edges_that_can_be_shown_are_kept(ingest: Ingest, feed: Feed) -> None:
    edges = {
        "edge-first": "0001-01-02T00:00:00Z",
        "edge-moon": "1969-07-20T20:17:00Z",
        "edge-epoch": "1970-01-01T00:00:00Z",
        "edge-leap": "2024-02-29T23:59:59+02:00",
        "edge-last": "9999-12-30T23:59:59Z",
    }
    outcomes = await ingest.apply(
        {"articles": [article(i, published_at=moment) for i, moment in edges.items()]}
    )
    assert [o["outcome"] for o in outcomes] == ["published"] * 5
    assert await feed.ids() == ["edge-last", "edge-leap", "edge-epoch", "edge-moon", "edge-first"]
    first = (await feed.timeline())["days"][-1]
    assert first["date"] == "0001-01-02"


async def test_a_bad_item_in_a_queued_job_is_rejected_alone(
    fresh: Stack, ingest: Ingest, feed: Feed, redis_client: redis.Redis
) -> None:
    """A job written by anything but ingest (or by an older ingest) may hold a bad item."""
    items = [
        {"op": "upsert", "article": article("job-good-1")},
        {"op": "upsert", "article": article("job-bad", published_at="9999-12-31T23:30:00Z")},
        {"op": "upsert", "article": {"id": "job-no-title"}},
        {"op": "upsert", "article": article("job-good-2")},
    ]
    job_id = Enqueuer(redis_client, Settings()).enqueue_blocking(items, "req-bad-item")

    async def ended() -> dict[str, object] | None:
        report = await ingest.job(job_id)
        return report if report["status"] in ("finished", "failed") else None

    report = await eventually(ended, 10, f"job {job_id} ended")
    assert report["status"] == "finished", report
    outcomes = report["results"]
    assert isinstance(outcomes, list)
    assert [o["outcome"] for o in outcomes] == ["published", "rejected", "rejected", "published"]
    assert outcomes[1]["id"] == "job-bad"
    assert sorted(await feed.ids()) == ["job-good-1", "job-good-2"]


async def test_the_same_version_of_a_retracted_article_says_it_stays_retracted(
    ingest: Ingest, feed: Feed
) -> None:
    story = article("taken-down", version=3)
    await ingest.apply(story)
    deleted = await ingest.client.delete(
        f"{ingest.base}/v1/articles/taken-down", headers=ingest.auth
    )
    await ingest.wait_applied(deleted)
    again = await ingest.post(story)
    assert again.status_code == 200
    result = again.json()["results"][0]
    assert result["status"] == "unchanged"
    assert result["state"] == "retracted"
    assert "newer version" in result["reason"]
    assert await feed.ids() == []
    newer = await ingest.apply(article("taken-down", version=4))
    assert newer[0]["outcome"] == "published"
