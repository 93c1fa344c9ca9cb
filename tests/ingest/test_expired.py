"""Expired is said at once: ingest answers an item older than the rolling window ``expired``
without queueing it, ``livefeed post`` says so and fails when nothing will show, and an item
stored as expired comes back with the same version once a wider window would show it. Against
real ingest, worker and feed processes on a stack with the default 7-day window."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.helpers import Feed, Ingest, article, empty_store, eventually
from tests.procs import REPO, Stack
from tests.test_post_command import post

SEED = REPO / "examples" / "seed.json"
RESTARTED = ("ingest", "worker", "feed")  # those that read LIVEFEED_WINDOW_DAYS


@pytest.fixture(scope="module")
def window_stack() -> Iterator[Stack]:
    with EmbeddedRedis(short_tmpdir()) as server:
        stack = Stack(server.url, short_tmpdir(), extra_env={"LIVEFEED_WINDOW_DAYS": "7"}).start()
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture
def store(window_stack: Stack) -> Iterator[redis.Redis]:
    """The stack's Redis, emptied: each test starts from an empty timeline."""
    client = redis.Redis.from_url(window_stack.redis_url)
    empty_store(client)
    yield client
    client.close()


@pytest.fixture
async def clients(window_stack: Stack, store: redis.Redis) -> AsyncIterator[tuple[Ingest, Feed]]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield Ingest(window_stack, http), Feed(window_stack, http)


def _now(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def test_an_item_older_than_the_window_is_answered_expired_and_not_queued(
    clients: tuple[Ingest, Feed], store: redis.Redis
) -> None:
    ingest, feed = clients
    answer = await ingest.post(
        {
            "articles": [
                article("old-1", published_at="2024-10-24T16:55:00+03:00"),
                # An embargo does not save it: the worker expires it by its publication time.
                article(
                    "old-embargoed",
                    published_at="2024-10-24T16:55:00+03:00",
                    embargoed_until=_now(hours=1),
                ),
                article("fresh-1", published_at=_now(minutes=-1)),
            ]
        }
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert [r["status"] for r in body["results"]] == ["expired", "expired", "accepted"]
    assert (body["accepted"], body["expired"], body["unchanged"], body["stale"]) == (1, 2, 0, 0)
    reason = body["results"][0]["reason"]
    assert reason == (
        "published 2024-10-24, older than the 7-day window (LIVEFEED_WINDOW_DAYS): "
        "it would not show"
    )
    # Only the fresh item was queued: the job knows nothing of the others, nor does the store.
    job = await ingest.wait_applied(answer)
    assert [(o["id"], o["outcome"]) for o in job] == [("fresh-1", "published")]
    assert store.exists("lf:article:old-1", "lf:article:old-embargoed") == 0
    assert await feed.ids() == ["fresh-1"]

    # Nothing else to queue: no job at all (200, job_id null), as when all is unchanged.
    events = store.xlen("lf:events")
    only_old = await ingest.post(article("old-2", published_at="2024-10-20T09:00:00+03:00"))
    assert only_old.status_code == 200, only_old.text
    assert only_old.json()["job_id"] is None
    assert only_old.json()["expired"] == 1
    assert only_old.json()["results"][0]["status"] == "expired"
    assert "published 2024-10-20" in only_old.json()["results"][0]["reason"]
    assert store.xlen("lf:events") == events
    assert store.exists("lf:article:old-2") == 0
    assert await feed.ids() == ["fresh-1"]

    # An update that re-dates a shown article out of the window is queued: applying it takes
    # the shown copy off.
    redated = await ingest.post(
        article("fresh-1", published_at="2024-10-24T16:55:00+03:00", version=2)
    )
    assert redated.status_code == 202, redated.text
    assert [o["outcome"] for o in await ingest.wait_applied(redated)] == ["expired"]
    assert await feed.ids() == []


async def test_livefeed_post_says_expired_and_fails_when_nothing_will_show(
    window_stack: Stack, clients: tuple[Ingest, Feed], store: redis.Redis
) -> None:
    _ingest, feed = clients
    url, token = window_stack.url("ingest"), window_stack.token
    result = post(str(SEED), "--url", url, "--token", token)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    items = [line for line in lines if line.startswith("expired ")]
    assert len(items) == 40, result.stdout
    assert "older than the 7-day window (LIVEFEED_WINDOW_DAYS)" in items[0]
    assert "job none" in lines[-1]
    assert "accepted 0" in lines[-1]
    assert "expired 40" in lines[-1]
    assert "nothing will show" in result.stderr
    assert "LIVEFEED_WINDOW_DAYS" in result.stderr
    assert await feed.ids() == []

    # One item that will show is enough for exit 0.
    mixed = short_tmpdir() / "mixed.json"
    seed = json.loads(SEED.read_text())["articles"]
    mixed.write_text(
        json.dumps({"articles": [seed[0], article("fresh-2", published_at=_now(minutes=-1))]})
    )
    both = post(str(mixed), "--url", url, "--token", token)
    assert both.returncode == 0, both.stdout + both.stderr
    assert both.stdout.startswith("expired ")
    assert "accepted 1" in both.stdout
    assert "expired 1" in both.stdout


def _state(store: redis.Redis, article_id: str) -> str | None:
    raw: Any = store.hget(f"lf:article:{article_id}", "state")
    return raw.decode() if raw is not None else None


async def test_an_item_stored_as_expired_comes_back_with_the_same_version_in_a_wider_window(
    window_stack: Stack, clients: tuple[Ingest, Feed], store: redis.Redis
) -> None:
    """The first hour's dead end: an item stored as expired answered ``unchanged`` forever,
    even after the operator restarted with ``LIVEFEED_WINDOW_DAYS=0``."""
    ingest, feed = clients
    # Shown for two seconds, then aged out of the 7-day window: stored as expired.
    item = article(
        "ageing-1", published_at=_now(days=-7, seconds=2), version=3, labels=["Exclusive"]
    )
    assert [o["outcome"] for o in await ingest.apply(item)] == ["published"]

    async def expired() -> bool:
        return _state(store, "ageing-1") == "expired"

    await eventually(expired, 15, "the item aged out of the window")
    assert await feed.ids() == []
    # The same version again, still outside the window: expired (not "unchanged"), nothing
    # queued.
    again = await ingest.post(item)
    assert again.status_code == 200, again.text
    assert again.json()["results"][0]["status"] == "expired"

    # The operator widens the window: the services restart with no age limit.
    for name in RESTARTED:
        window_stack.services[name].stop()
        window_stack.start_service(name, LIVEFEED_WINDOW_DAYS="0")
        window_stack.wait_healthy(name)
    try:
        back = await ingest.post(item)
        assert back.status_code == 202, back.text
        assert back.json()["results"][0]["status"] == "accepted"
        assert [o["outcome"] for o in await ingest.wait_applied(back)] == ["published"]
        assert await feed.ids() == ["ageing-1"]
        shown = (await feed.timeline())["days"][0]["items"][0]
        assert (shown["version"], shown["labels"]) == (3, ["exclusive"])
        # An older version is still stale against it, and the same one now unchanged.
        older = await ingest.post({**item, "version": 2})
        assert older.json()["results"][0]["status"] == "stale"
        assert (await ingest.post(item)).json()["results"][0]["status"] == "unchanged"
    finally:
        for name in RESTARTED:
            window_stack.services[name].stop()
            window_stack.start_service(name)
            window_stack.wait_healthy(name)
