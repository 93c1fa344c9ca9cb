"""``PATCH /v1/articles/{id}`` (JSON Merge Patch, RFC 7396) against real ingest, worker, feed and
push: one field changes and the rest stays, null removes, the result is checked as a PUT body,
scopes hold, the history and the stream see an update, and a patch read before another write
changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.helpers import Feed, Ingest, article, empty_store, subscribe
from tests.procs import Stack

CMS = "cms-token-patch-1"
WORLD = "world-token-patch-1"
MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def patch_stack() -> Iterator[Stack]:
    workdir = short_tmpdir()
    tokens = workdir / "tokens"
    tokens.write_text(f"cms {CMS}\nworld {WORLD} world\n")
    with EmbeddedRedis(short_tmpdir()) as server:
        stack = Stack(
            server.url,
            workdir,
            token=CMS,
            extra_env={"LIVEFEED_TOKENS_FILE": str(tokens), "LIVEFEED_INGEST_TOKENS": ""},
        ).start()
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture
def empty(patch_stack: Stack) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(patch_stack.redis_url)
    empty_store(client)
    yield client
    client.close()


@pytest.fixture
async def clients(
    patch_stack: Stack, empty: redis.Redis
) -> AsyncIterator[tuple[Ingest, Feed, httpx.AsyncClient]]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield Ingest(patch_stack, http), Feed(patch_stack, http), http


async def patch(
    ingest: Ingest, article_id: str, body: Any, token: str = CMS, content_type: str = MERGE
) -> httpx.Response:
    return await ingest.client.patch(
        f"{ingest.base}/v1/articles/{article_id}",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )


async def shown(feed: Feed, article_id: str) -> dict[str, Any]:
    response = await feed.client.get(f"{feed.base}/v1/articles/{article_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def full(article_id: str, **fields: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "published_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "labels": ["Exclusive"],
        "section": "world",
        "url": f"https://example.com/{article_id}",
        "summary": "Leaders meet &lt;today&gt;",  # the text "Leaders meet <today>"
    }
    return article(article_id, "Kyiv hosts summit", **{**defaults, **fields})


async def test_a_patch_changes_one_field_and_keeps_the_rest(
    patch_stack: Stack, clients: tuple[Ingest, Feed, httpx.AsyncClient]
) -> None:
    ingest, feed, _http = clients
    await ingest.apply(full("p-1", version=1))
    before = await shown(feed, "p-1")
    assert before["summary"] == "Leaders meet <today>"
    async with subscribe(patch_stack.ws_url) as stream:
        await stream.next()  # hello
        answer = await patch(ingest, "p-1", {"title": "Kyiv hosts summit on Friday"})
        assert answer.status_code == 202, answer.text
        assert answer.json()["results"][0]["status"] == "accepted"
        assert [o["outcome"] for o in await ingest.wait_applied(answer)] == ["updated"]
        event = await stream.next()
    assert event["type"] == "updated"
    assert event["headline"]["title"] == "Kyiv hosts summit on Friday"
    after = await shown(feed, "p-1")
    assert after["title"] == "Kyiv hosts summit on Friday"
    # Everything the patch did not name is as it was (the text too: not stripped again).
    for name in ("labels", "section", "url", "summary", "published_at", "version"):
        assert after[name] == before[name], name
    # No version named: the patch is dated now, so it ranks newer than what it was merged onto.
    assert after["updated_at"] is not None

    history = await ingest.client.get(f"{ingest.base}/v1/articles/p-1/history", headers=ingest.auth)
    entries = history.json()["history"]
    assert [(e["action"], e["by"]) for e in entries] == [("published", "cms"), ("updated", "cms")]
    assert entries[1]["fields"] == ["title"]


async def test_null_removes_a_field_and_lists_are_replaced_whole(
    clients: tuple[Ingest, Feed, httpx.AsyncClient],
) -> None:
    ingest, feed, _http = clients
    await ingest.apply(full("p-2", version=1, tags=["Summit", "Kyiv"]))
    answer = await patch(ingest, "p-2", {"url": None, "labels": ["Opinion"], "version": 2})
    assert [o["outcome"] for o in await ingest.wait_applied(answer)] == ["updated"]
    after = await shown(feed, "p-2")
    assert after["url"] is None
    assert after["labels"] == ["opinion"]
    assert after["tags"] == ["Summit", "Kyiv"]
    assert after["section"] == "world"
    assert after["version"] == 2
    # plain application/json is taken too
    again = await patch(ingest, "p-2", {"byline": "Desk"}, content_type="application/json")
    assert [o["outcome"] for o in await ingest.wait_applied(again)] == ["updated"]
    assert (await shown(feed, "p-2"))["byline"] == "Desk"
    # The same version named again is a write not newer than the stored one: unchanged.
    same = await patch(ingest, "p-2", {"title": "Something else", "version": 2})
    assert same.status_code == 200, same.text
    assert same.json()["results"][0]["status"] == "unchanged"
    assert same.json()["job_id"] is None


async def test_a_retried_patch_with_an_idempotency_key_is_applied_once(
    clients: tuple[Ingest, Feed, httpx.AsyncClient],
) -> None:
    ingest, _feed, http = clients
    await ingest.apply(full("p-i", version=1))
    headers = {**ingest.auth, "Content-Type": MERGE, "Idempotency-Key": "patch-p-i-1"}
    url = f"{ingest.base}/v1/articles/p-i"
    first = await http.patch(url, json={"labels": ["Opinion"]}, headers=headers)
    retry = await http.patch(url, json={"labels": ["Opinion"]}, headers=headers)
    assert first.status_code == retry.status_code == 202, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["job_id"] == first.json()["job_id"]


async def test_an_invalid_result_is_422_naming_the_field_and_stores_nothing(
    clients: tuple[Ingest, Feed, httpx.AsyncClient],
) -> None:
    ingest, feed, _http = clients
    await ingest.apply(full("p-3", version=1))
    before = await shown(feed, "p-3")
    for body, field in (
        ({"title": None}, "title"),  # a required field removed
        ({"url": "ftp://example.com/x"}, "url"),
        ({"labels": ["not a label"]}, "labels"),
        ({"version": "2"}, "version"),
    ):
        answer = await patch(ingest, "p-3", body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == [field], answer.text
    for body, field in (([1, 2], "body"), ({"id": "other"}, "id")):
        answer = await patch(ingest, "p-3", body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == field
    wrong_type = await patch(ingest, "p-3", {"title": "x"}, content_type="text/plain")
    assert wrong_type.status_code == 415
    assert await shown(feed, "p-3") == before


async def test_nothing_to_patch_is_404(clients: tuple[Ingest, Feed, httpx.AsyncClient]) -> None:
    ingest, _feed, _http = clients
    unknown = await patch(ingest, "p-never", {"title": "x"})
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["errors"][0]["field"] == "id"
    await ingest.apply(full("p-4", version=1))
    gone = await ingest.client.delete(f"{ingest.base}/v1/articles/p-4", headers=ingest.auth)
    await ingest.wait_applied(gone)
    retracted = await patch(ingest, "p-4", {"title": "Back again?"})
    assert retracted.status_code == 404, retracted.text
    assert "retracted" in retracted.json()["errors"][0]["reason"]


async def test_scopes_hold_for_patches(clients: tuple[Ingest, Feed, httpx.AsyncClient]) -> None:
    ingest, feed, _http = clients
    await ingest.apply({"articles": [full("p-w", version=1), full("p-s", section="sport")]})
    # The world desk may patch a world article, but not one in sport, nor move one to sport.
    other = await patch(ingest, "p-s", {"title": "World desk was here"}, token=WORLD)
    assert other.status_code == 403, other.text
    assert other.json()["errors"][0]["field"] == "section"
    moved = await patch(ingest, "p-w", {"section": "sport"}, token=WORLD)
    assert moved.status_code == 403, moved.text
    mine = await patch(ingest, "p-w", {"title": "World desk edit"}, token=WORLD)
    assert [o["outcome"] for o in await ingest.wait_applied(mine)] == ["updated"]
    assert (await shown(feed, "p-w"))["title"] == "World desk edit"
    assert (await shown(feed, "p-s"))["title"] == "Kyiv hosts summit"


async def test_a_patch_read_before_another_change_changes_nothing(
    patch_stack: Stack, clients: tuple[Ingest, Feed, httpx.AsyncClient]
) -> None:
    """The read-modify-write race. With the worker stopped, two editors patch different fields
    of the same article (each merged onto the same stored copy), and a retraction is queued
    before a third patch. Applied in order, the second patch must not put back the labels the
    first one changed, nor the third bring the retracted article back: each reports ``stale``.
    """
    ingest, feed, _http = clients
    await ingest.apply({"articles": [full("p-r"), full("p-d")]})
    worker = patch_stack.services["worker"]
    worker.stop()
    try:
        first = await patch(ingest, "p-r", {"labels": ["Opinion"]})
        second = await patch(ingest, "p-r", {"title": "Second editor's title"})
        retraction = await ingest.client.delete(
            f"{ingest.base}/v1/articles/p-d", headers=ingest.auth
        )
        third = await patch(ingest, "p-d", {"title": "Patched while being retracted"})
        for answer in (first, second, retraction, third):
            assert answer.status_code == 202, answer.text
    finally:
        patch_stack.start_service("worker")
    assert [o["outcome"] for o in await ingest.wait_applied(first, 20)] == ["updated"]
    lost = await ingest.wait_applied(second, 20)
    assert [o["outcome"] for o in lost] == ["stale"], lost
    assert "patch it again" in lost[0]["reason"]
    after = await shown(feed, "p-r")
    assert after["labels"] == ["opinion"]
    assert after["title"] == "Kyiv hosts summit"
    assert [o["outcome"] for o in await ingest.wait_applied(retraction, 20)] == ["retracted"]
    assert [o["outcome"] for o in await ingest.wait_applied(third, 20)] == ["stale"]
    gone = await feed.client.get(f"{feed.base}/v1/articles/p-d")
    assert gone.status_code == 404
