"""Idempotency-Key: a retried request gets the first answer back and nothing is queued twice."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis
import redis.asyncio

from services.ingest.idempotency import Claim, IdempotencyStore, fingerprint
from tests.helpers import Feed, Ingest, article, subscribe
from tests.procs import Stack, free_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


async def test_a_retry_gets_the_same_answer_and_queues_nothing(
    ingest: Ingest, feed: Feed, fresh: Stack, redis_client: redis.Redis
) -> None:
    payload = {"articles": [article("idem-1"), article("idem-2", url="javascript:x")]}
    async with subscribe(fresh.ws_url) as stream:
        await stream.next()  # hello
        first = await ingest.post(payload, **{"Idempotency-Key": "cms-42-attempt"})
        assert first.status_code == 202
        await ingest.wait_applied(first)
        assert (await stream.next())["headline"]["id"] == "idem-1"
        retry = await ingest.post(payload, **{"Idempotency-Key": "cms-42-attempt"})
        # Without the key this would be 200 "unchanged"; with it, the very first answer.
        assert retry.status_code == 202
        assert retry.json() == first.json()
        assert retry.headers["idempotent-replayed"] == "true"
        await ingest.apply(article("marker"))
        assert (await stream.next())["headline"]["id"] == "marker"  # nothing in between
    assert sorted(await feed.ids()) == ["idem-1", "marker"]
    # Kept for 24 hours, under a hash: the token appears nowhere in Redis.
    stored = list(redis_client.scan_iter(match="lf:idem:*"))
    assert len(stored) == 1
    assert 86_000 < redis_client.ttl(stored[0]) <= 86_400
    assert fresh.token.encode() not in stored[0]
    assert fresh.token.encode() not in (redis_client.get(stored[0]) or b"")


async def test_rss_and_delete_retries_are_replayed(ingest: Ingest, feed: Feed) -> None:
    document = (FIXTURES / "rss_feed.xml").read_bytes()
    first = await ingest.post_raw(document, "application/rss+xml", **{"Idempotency-Key": "rss-1"})
    await ingest.wait_applied(first)
    again = await ingest.post_raw(document, "application/rss+xml", **{"Idempotency-Key": "rss-1"})
    assert (again.status_code, again.json()) == (202, first.json())
    url = f"{ingest.base}/v1/articles/espreso-rss-1000"
    headers = {**ingest.auth, "Idempotency-Key": "delete-1000"}
    deleted = await ingest.client.delete(url, headers=headers)
    assert [o["outcome"] for o in await ingest.wait_applied(deleted)] == ["retracted"]
    redo = await ingest.client.delete(url, headers=headers)
    assert (redo.status_code, redo.json()) == (202, deleted.json())
    assert "espreso-rss-1000" not in await feed.ids(limit=50)


async def test_refused_requests_are_replayed_too(ingest: Ingest) -> None:
    bad = article("bad-url", url="javascript:alert(1)")
    first = await ingest.post(bad, **{"Idempotency-Key": "bad-1"})
    again = await ingest.post(bad, **{"Idempotency-Key": "bad-1"})
    assert first.status_code == again.status_code == 422
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json() == first.json()


async def test_same_key_with_another_body_is_422(ingest: Ingest, feed: Feed) -> None:
    first = await ingest.post(article("one"), **{"Idempotency-Key": "reused"})
    await ingest.wait_applied(first)
    other = await ingest.post(article("two"), **{"Idempotency-Key": "reused"})
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await feed.ids() == ["one"]
    too_long = await ingest.post(article("three"), **{"Idempotency-Key": "k" * 300})
    assert too_long.status_code == 400
    assert too_long.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_a_duplicate_while_the_first_is_in_flight_gets_409(
    ingest: Ingest, feed: Feed, fresh: Stack
) -> None:
    payload = article("in-flight")
    body = httpx.Request("POST", "http://x", json=payload).content
    # The first request holds the key (as ingest does between claiming it and answering).
    async with redis.asyncio.Redis.from_url(fresh.redis_url) as client:
        claim = await IdempotencyStore(client, 1 << 20).claim(
            fresh.token, "slow-one", fingerprint("POST", "/v1/articles", "application/json", body)
        )
    assert isinstance(claim, Claim)
    duplicate = await ingest.client.post(
        f"{ingest.base}/v1/articles",
        content=body,
        headers={**ingest.auth, "Content-Type": "application/json", "Idempotency-Key": "slow-one"},
    )
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    assert duplicate.headers["retry-after"] == "1"
    assert duplicate.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await feed.ids() == []


async def test_keys_are_scoped_to_the_token(fresh: Stack, http: httpx.AsyncClient) -> None:
    port = free_port()
    service = fresh.start_service(
        "ingest",
        key="ingest-two-tokens",
        LIVEFEED_INGEST_PORT=str(port),
        LIVEFEED_INGEST_TOKENS="newsroom-a-token,newsroom-b-token",
    )
    try:
        fresh.wait_healthy("ingest", port=port)
        url = f"http://127.0.0.1:{port}/v1/articles"
        answers = []
        for token in ("newsroom-a-token", "newsroom-b-token"):
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "shared-key"}
            answers.append(await http.post(url, json=article(f"from-{token[9]}"), headers=headers))
        # Two newsrooms using the same key do not collide: both are queued.
        assert [a.status_code for a in answers] == [202, 202]
        assert answers[0].json()["job_id"] != answers[1].json()["job_id"]
    finally:
        service.stop()


async def test_stored_answers_per_token_are_bounded(
    fresh: Stack, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    """A token cannot make Redis hold answers without bound: past its budget they are not kept."""
    port = free_port()
    service = fresh.start_service(
        "ingest",
        key="ingest-small-budget",
        LIVEFEED_INGEST_PORT=str(port),
        LIVEFEED_IDEMPOTENCY_BUDGET_BYTES="4000",
    )
    try:
        fresh.wait_healthy("ingest", port=port)
        url = f"http://127.0.0.1:{port}/v1/articles"
        auth = {"Authorization": f"Bearer {fresh.token}"}
        batch = {"articles": [article(f"budget-{n}") for n in range(100)]}
        answers = []
        for key in range(12):
            headers = {**auth, "Idempotency-Key": f"budget-{key}"}
            answers.append(await http.post(url, json=batch, headers=headers))
        assert all(a.status_code in (200, 202) for a in answers)
        stored = list(redis_client.scan_iter(match="lf:idem:*"))
        kept = sum(len(redis_client.get(name) or b"") for name in stored)
        assert 0 < kept <= 4000  # compressed answers, within the budget
        assert len(stored) < 12
        # An answer that was not kept: its retry runs again (and the store's version check
        # makes that harmless) instead of being replayed.
        retry = await http.post(url, json=batch, headers={**auth, "Idempotency-Key": "budget-11"})
        assert retry.status_code == 200
        assert "idempotent-replayed" not in retry.headers
        assert retry.json()["unchanged"] == 100
    finally:
        service.stop()
