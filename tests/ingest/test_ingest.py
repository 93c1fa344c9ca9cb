"""Ingest: tokens, and every kind of bad input answered clearly with nothing stored or pushed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import redis

from shared import keys
from tests.helpers import Feed, Ingest, article, subscribe
from tests.procs import Stack, wait_for


async def test_tokens(ingest: Ingest) -> None:
    base = ingest.base
    body = article("auth")
    calls = [
        ("POST", f"{base}/v1/articles", body),
        ("PUT", f"{base}/v1/articles/auth", body),
        ("DELETE", f"{base}/v1/articles/auth", None),
        ("GET", f"{base}/v1/jobs/some-job", None),
    ]
    for method, url, payload in calls:
        missing = await ingest.client.request(method, url, json=payload)
        assert missing.status_code == 401, (method, url)
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = await ingest.client.request(
            method, url, json=payload, headers={"Authorization": "Bearer not-the-token"}
        )
        assert wrong.status_code == 403, (method, url)
        assert wrong.headers["content-type"] == "application/problem+json"


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"title": "No id", "published_at": "2024-10-24T16:55:00+03:00"}, "id"),
    (article("bad id with spaces"), "id"),
    (article("x" * 201), "id"),
    (article("t1", title="   "), "title"),
    (article("t2", title="<b></b><script>alert(1)</script>"), "title"),
    (article("t3", title="x" * 301), "title"),
    (article("d1", published_at="2024-10-24T16:55:00"), "published_at"),
    (article("d2", published_at="yesterday"), "published_at"),
    (article("d3", published_at=1729778100), "published_at"),
    (article("u1", url="javascript:alert(1)"), "url"),
    (article("u2", url="ftp://example.com/x"), "url"),
    (article("l1", labels=[f"l{n}" for n in range(9)]), "labels"),
    (article("l2", labels=["not a label"]), "labels"),
    (article("v1", version=0), "version"),
    (article("v2", version="3"), "version"),
    (article("g1", urgency=10), "urgency"),
    (article("s1", section="Not a slug!"), "section"),
    (article("e1", embargoed_until="2030-01-01T00:00:00"), "embargoed_until"),
]


@pytest.mark.parametrize(("payload", "field"), INVALID, ids=[f for _, f in INVALID])
async def test_invalid_fields_get_422_naming_the_field(
    ingest: Ingest, payload: dict[str, Any], field: str
) -> None:
    response = await ingest.post(payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert any(e["field"] == field or e["field"].startswith(f"{field}[") for e in problem["errors"])


async def test_bad_requests_store_and_push_nothing(
    ingest: Ingest, feed: Feed, fresh: Stack
) -> None:
    await ingest.apply(article("kept", title="Kept as it was"))
    # From the state with "kept" (push may not have read its event yet: without `since` it
    # would still send it to a reader who connects now).
    since = (await feed.timeline())["event_id"]
    async with subscribe(fresh.ws_url, since=since) as stream:
        await stream.next()
        cases = [
            (await ingest.post_raw(b'{"id": "broken",', "application/json"), 400, "body"),
            (await ingest.post_raw(b"\xff\xfe\xfa", "application/json"), 400, "body"),
            (await ingest.post_raw(b"[" * 5000 + b"]" * 5000, "application/json"), 400, "body"),
            (await ingest.post_raw(b"id=kept", "text/plain"), 415, "content-type"),
            (
                await ingest.post_raw(
                    b'{"id":"kept","title":"' + b"A" * (1024 * 1024 + 10) + b'"}',
                    "application/json",
                ),
                413,
                None,
            ),
            (await ingest.post(article("kept", title="", version=99)), 422, "title"),
            (await ingest.post({"articles": []}), 422, "articles"),
            (
                await ingest.post({"articles": [article(f"b{n}") for n in range(501)]}),
                413,
                "articles",
            ),
        ]
        for response, status, field in cases:
            assert response.status_code == status, response.text
            assert response.headers["content-type"] == "application/problem+json"
            if field:
                assert field in {e["field"] for e in response.json()["errors"]}
        await ingest.apply(article("marker"))
        assert (await stream.next())["headline"]["id"] == "marker"
    assert sorted(await feed.ids()) == ["kept", "marker"]
    kept = await feed.client.get(f"{feed.base}/v1/articles/kept")
    assert kept.json()["title"] == "Kept as it was"


async def test_a_batch_accepts_the_good_items_and_names_the_bad(ingest: Ingest, feed: Feed) -> None:
    response = await ingest.post(
        {"articles": [article("good-1"), article("bad", url="javascript:x"), article("good-2")]}
    )
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
    assert body["results"][1]["errors"][0]["field"] == "articles[1].url"
    await ingest.wait_applied(response)
    assert sorted(await feed.ids()) == ["good-1", "good-2"]


async def test_markup_is_stripped_from_titles(ingest: Ingest, feed: Feed) -> None:
    title = '<img src=x onerror="alert(1)">Tanks &amp; <b>drones</b>\u202e over\tKyiv'
    await ingest.apply(article("markup", title=title, labels=["Exclusive"]))
    item = (await feed.timeline())["days"][0]["items"][0]
    assert item["title"] == "Tanks & drones over Kyiv"
    assert item["labels"] == ["exclusive"]


async def test_put_creates_and_replaces(ingest: Ingest, feed: Feed) -> None:
    url = f"{ingest.base}/v1/articles/put-me"
    body = article("put-me", title="Created")
    body.pop("id")
    first = await ingest.client.put(url, json=body, headers=ingest.auth)
    assert (await ingest.wait_applied(first))[0]["outcome"] == "published"
    replaced = await ingest.client.put(
        url, json={**body, "title": "Replaced", "version": 2}, headers=ingest.auth
    )
    assert (await ingest.wait_applied(replaced))[0]["outcome"] == "updated"
    assert (await feed.timeline())["days"][0]["items"][0]["title"] == "Replaced"
    mismatch = await ingest.client.put(url, json=article("other"), headers=ingest.auth)
    assert mismatch.status_code == 422
    assert mismatch.json()["errors"][0]["field"] == "id"


async def test_job_status_and_unknown_jobs(ingest: Ingest) -> None:
    response = await ingest.post(article("jobbed"))
    outcomes = await ingest.wait_applied(response)
    report = await ingest.job(response.json()["job_id"])
    assert report["status"] == "finished"
    assert report["results"] == outcomes
    unknown = await ingest.client.get(f"{ingest.base}/v1/jobs/nope", headers=ingest.auth)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_health_ready_and_openapi(ingest: Ingest) -> None:
    assert (await ingest.client.get(f"{ingest.base}/healthz")).status_code == 200
    assert (await ingest.client.get(f"{ingest.base}/readyz")).json()["redis"] == "ok"
    spec = (await ingest.client.get(f"{ingest.base}/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "/v1/articles" in spec["paths"]


async def test_encoded_markup_stays_text_all_the_way_to_the_timeline(
    ingest: Ingest, feed: Feed
) -> None:
    """Entities decode to text once; the worker must not strip that text a second time."""
    outcomes = await ingest.apply(
        {"articles": [article("enc-1", title="Use &lt;b&gt; for bold"), article("enc-2")]}
    )
    assert [o["outcome"] for o in outcomes] == ["published", "published"]
    titles = {i["id"]: i["title"] for d in (await feed.timeline())["days"] for i in d["items"]}
    assert titles["enc-1"] == "Use <b> for bold"


async def test_a_burst_of_300_concurrent_posts_is_all_accepted_and_applied(
    fresh: Stack, redis_client: redis.Redis
) -> None:
    # More requests in flight than Redis connections in ingest's pool: they wait their turn,
    # none is told Redis is unavailable.
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        burst = Ingest(fresh, client)
        answers = await asyncio.gather(*(burst.post(article(f"burst-{n}")) for n in range(300)))
    refused = [a.text for a in answers if a.status_code != 202]
    assert not refused, refused[:3]
    wait_for(lambda: redis_client.zcard(keys.TIMELINE) == 300, timeout=30)
