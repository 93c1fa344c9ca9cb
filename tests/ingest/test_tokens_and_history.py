"""Named and scoped tokens, the tokens file re-read while ingest runs, and the history of who
changed what: against real ingest, worker and feed processes."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.helpers import Ingest, article, eventually
from tests.procs import Stack

CMS = "cms-token-1234567"
LEGACY = "legacy-token-1234"
WIRE = "wire-token-1234567"
DESK_OLD = "desk-old-token-123"
DESK_NEW = "desk-new-token-456"
WORLD = "world-desk-token-1"
SPORT = "sport-desk-token-1"
TOKENS = (CMS, LEGACY, WIRE, DESK_OLD, DESK_NEW, WORLD, SPORT)


def tokens_file(path: Path, desk: str) -> None:
    """Write the tokens file atomically, as an operator (or a secrets manager) should."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        f"# newsroom tokens\nwire {WIRE} world sport\ndesk {desk}\n"
        f"world {WORLD} world\nsport {SPORT} sport\n"
    )
    os.replace(tmp, path)


@pytest.fixture(scope="module")
def tokens_stack() -> Iterator[tuple[Stack, Path]]:
    workdir = short_tmpdir()
    path = workdir / "tokens"
    tokens_file(path, DESK_OLD)
    with EmbeddedRedis(short_tmpdir()) as server:
        stack = Stack(
            server.url,
            workdir,
            extra_env={
                "LIVEFEED_INGEST_TOKENS": f"cms:{CMS},{LEGACY}",
                "LIVEFEED_TOKENS_FILE": str(path),
                "LIVEFEED_INGEST_RATE_LIMIT": "0",
            },
        ).start()
        try:
            yield stack, path
        finally:
            stack.stop()


def client_for(stack: Stack, http: httpx.AsyncClient, token: str) -> Ingest:
    ingest = Ingest(stack, http)
    ingest.auth = {"Authorization": f"Bearer {token}"}
    return ingest


async def _history(ingest: Ingest, article_id: str) -> httpx.Response:
    return await ingest.client.get(
        f"{ingest.base}/v1/articles/{article_id}/history", headers=ingest.auth
    )


async def test_history_lists_who_changed_what_with_names_never_tokens(
    tokens_stack: tuple[Stack, Path], http: httpx.AsyncClient
) -> None:
    stack, _path = tokens_stack
    cms, desk, wire = (client_for(stack, http, t) for t in (CMS, DESK_OLD, WIRE))
    legacy = client_for(stack, http, LEGACY)
    story = article("h-1", title="Minister resigns", section="world", version=1)
    await cms.apply(story)
    await desk.apply({**story, "version": 2, "title": "Minister Ivanenko resigns"})
    await cms.apply({**story, "version": 3, "title": "Minister Ivanenko resigns",
                     "correction": "The minister's name was misspelt."})  # fmt: skip
    response = await wire.client.request(
        "DELETE",
        f"{wire.base}/v1/articles/h-1",
        headers=wire.auth,
        json={"reason": "Legal: the resignation was not confirmed."},
    )
    assert [o["outcome"] for o in await wire.wait_applied(response)] == ["retracted"]

    answer = await _history(legacy, "h-1")  # any valid token reads it, also once retracted
    assert answer.status_code == 200, answer.text
    history: list[dict[str, Any]] = answer.json()["history"]
    assert [(h["action"], h["by"]) for h in history] == [
        ("published", "cms"),
        ("updated", "desk"),
        ("corrected", "cms"),
        ("retracted", "wire"),
    ]
    assert [h["version"] for h in history] == [1, 2, 3, None]
    assert "title" in history[0]["fields"]
    assert history[1]["fields"] == ["title"]
    assert history[2]["fields"] == []
    assert history[2]["correction"] == "The minister's name was misspelt."
    assert history[3]["reason"] == "Legal: the resignation was not confirmed."
    stamps = [h["at"] for h in history]
    assert stamps == sorted(stamps)
    assert all(stamp.endswith(("+02:00", "+03:00")) for stamp in stamps)  # Europe/Kyiv
    for token in TOKENS:
        assert token not in answer.text

    # A bare token is named by its position; the history endpoint needs a valid token.
    await legacy.apply(article("h-2"))
    assert [h["by"] for h in (await _history(cms, "h-2")).json()["history"]] == ["token-2"]
    url = f"{cms.base}/v1/articles/h-1/history"
    assert (await http.get(url)).status_code == 401
    assert (
        await http.get(url, headers={"Authorization": "Bearer nope-nope-nope"})
    ).status_code == 403
    missing = await _history(cms, "never-posted")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    # The feed's address answers the same (a tool that knows only it), and is never cached.
    on_feed = f"{stack.url('feed')}/v1/articles/h-1/history"
    same = await http.get(on_feed, headers=legacy.auth)
    assert same.status_code == 200, same.text
    assert same.json() == answer.json()
    assert same.headers["cache-control"] == "private, no-store"
    assert (await http.get(on_feed)).status_code == 401
    assert (await http.get(on_feed, headers={"Authorization": "Bearer nope"})).status_code == 403
    assert (await http.get(f"{stack.url('feed')}/v1/articles/h-1")).status_code == 404  # gone
    # An id may end in "/history": without a token, the feed still serves that article.
    await cms.apply(article("h-1/history", title="The history of the crisis"))
    odd = await http.get(on_feed)
    assert odd.status_code == 200, odd.text
    assert odd.json()["title"] == "The history of the crisis"
    assert (await http.get(on_feed, headers=legacy.auth)).json() == answer.json()
    invalid = await http.get(f"{stack.url('feed')}/v1/articles/bad id/history", headers=cms.auth)
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "id"
    bad_reason = await cms.client.request(
        "DELETE", f"{cms.base}/v1/articles/h-2", headers=cms.auth, json={"reason": 5}
    )
    assert bad_reason.status_code == 422
    assert bad_reason.json()["errors"][0]["field"] == "reason"
    # Past the raw bound the OpenAPI document states (even if little of it is plain text).
    huge = "\u008f" * 20_000 + "x"
    for reason in (huge, "y" * 501):
        refused = await cms.client.request(
            "DELETE", f"{cms.base}/v1/articles/h-2", headers=cms.auth, json={"reason": reason}
        )
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "reason"


async def test_a_scoped_token_is_refused_outside_its_sections_by_name_the_rest_applied(
    tokens_stack: tuple[Stack, Path], http: httpx.AsyncClient
) -> None:
    stack, _path = tokens_stack
    cms, wire = client_for(stack, http, CMS), client_for(stack, http, WIRE)
    await cms.apply(article("p-1", section="politics", title="Coalition talks"))
    response = await wire.post(
        {
            "articles": [
                article("w-1", section="world"),
                article("w-2", section="politics"),
                article("w-3", section="sport"),
                article("w-4"),
            ]
        }
    )
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted", "rejected"]
    for index in (1, 3):
        (error,) = results[index]["errors"]
        assert error["field"] == f"articles[{index}].section"
        assert "forbidden" in error["reason"]
        assert "wire" in error["reason"]
    await wire.wait_applied(response)
    feed = stack.url("feed")
    shown = (await http.get(f"{feed}/v1/timeline")).json()
    ids = {item["id"] for day in shown["days"] for item in day["items"]}
    assert {"w-1", "w-3", "p-1"} <= ids
    assert not {"w-2", "w-4"} & ids

    # An article in another section can be neither moved nor retracted by it.
    moved = await wire.client.put(
        f"{wire.base}/v1/articles/p-1",
        headers=wire.auth,
        json=article("p-1", section="world", title="Taken over", version=2),
    )
    assert moved.status_code == 403, moved.text
    assert moved.json()["errors"][0]["field"] == "section"
    gone = await wire.client.delete(f"{wire.base}/v1/articles/p-1", headers=wire.auth)
    assert gone.status_code == 403
    assert gone.json()["results"][0]["errors"][0]["field"] == "section"
    article_now = (await http.get(f"{feed}/v1/articles/p-1")).json()
    assert article_now["title"] == "Coalition talks"


def _canceled(uri: str, version: int) -> bytes:
    """A ninjs kill of ``uri`` at ``version`` (a wire's ``pubstatus: canceled``)."""
    return orjson.dumps(
        {
            "uri": uri,
            "version": str(version),
            "versioncreated": "2024-10-24T18:05:00+03:00",
            "pubstatus": "canceled",
            "headlines": [{"role": "main", "value": "KILL"}],
        }
    )


def _refused_for_section(response: httpx.Response) -> str:
    """The reason of a one-item request refused because of its token's sections."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    (result,) = response.json()["results"]
    assert result["status"] == "rejected"
    (error,) = result["errors"]
    assert error["field"] == "section", error
    assert "forbidden" in error["reason"]
    reason: str = error["reason"]
    return reason


async def _actions(ingest: Ingest, article_id: str) -> list[tuple[str, str, int | None]]:
    answer = await _history(ingest, article_id)
    assert answer.status_code == 200, answer.text
    return [(h["action"], h["by"], h["version"]) for h in answer.json()["history"]]


async def test_a_scoped_token_neither_revives_nor_kills_another_sections_retracted_article(
    tokens_stack: tuple[Stack, Path], http: httpx.AsyncClient
) -> None:
    """Finding 3a: world retracts an article; sport can neither post it again as its own nor
    cancel it with a huge version (which would keep world from ever publishing it again)."""
    stack, _path = tokens_stack
    world, sport = client_for(stack, http, WORLD), client_for(stack, http, SPORT)
    story = article("s-w2", section="world", title="Minister to resign", version=1)
    await world.apply(story)
    gone = await world.client.request(
        "DELETE",
        f"{world.base}/v1/articles/s-w2",
        headers=world.auth,
        json={"reason": "Legal: not confirmed"},
    )
    assert [o["outcome"] for o in await world.wait_applied(gone)] == ["retracted"]

    revived = await sport.post(
        article("s-w2", section="sport", title="Minister to resign", version=2)
    )
    assert "world" in _refused_for_section(revived)
    put = await sport.client.put(
        f"{sport.base}/v1/articles/s-w2",
        headers=sport.auth,
        json=article("s-w2", section="sport", title="Minister to resign", version=3),
    )
    _refused_for_section(put)
    killed = await sport.post_raw(_canceled("s-w2", 10**12), "application/ninjs+json")
    _refused_for_section(killed)
    deleted = await sport.client.request(
        "DELETE", f"{sport.base}/v1/articles/s-w2", headers=sport.auth
    )
    _refused_for_section(deleted)
    feed = stack.url("feed")
    assert (await http.get(f"{feed}/v1/articles/s-w2")).status_code == 404
    # World itself can publish a newer version: sport raised no rank on its record.
    assert [o["outcome"] for o in await world.apply({**story, "version": 2})] == ["published"]
    assert (await http.get(f"{feed}/v1/articles/s-w2")).json()["section"] == "world"
    assert await _actions(world, "s-w2") == [
        ("published", "world", 1),
        ("retracted", "world", None),
        ("published", "world", 2),
    ]


async def test_the_apply_script_enforces_scope_on_records_ingest_has_not_seen_yet(
    tokens_stack: tuple[Stack, Path], http: httpx.AsyncClient
) -> None:
    """Ingest's early check races with the worker: with the worker paused, world publishes
    and retracts an article while sport posts the same id; ingest cannot know yet, so the
    apply script must refuse sport's copy, and the job status says why."""
    stack, _path = tokens_stack
    world, sport = client_for(stack, http, WORLD), client_for(stack, http, SPORT)
    worker = stack.services["worker"].process
    assert worker is not None
    worker.send_signal(signal.SIGSTOP)
    try:
        first = await world.post(article("s-race", section="world", version=1))
        assert first.status_code == 202, first.text
        retracted = await world.client.delete(
            f"{world.base}/v1/articles/s-race", headers=world.auth
        )
        assert retracted.status_code == 202, retracted.text
        taken = await sport.post(article("s-race", section="sport", version=2))
        assert taken.status_code == 202, taken.text  # nothing stored yet: ingest lets it through
        canceled = await sport.post_raw(_canceled("s-race2", 10**12), "application/ninjs+json")
        assert canceled.status_code == 202, canceled.text
        other = await world.post(article("s-race2", section="world", version=1))
        assert other.status_code == 202, other.text
    finally:
        worker.send_signal(signal.SIGCONT)
    assert [o["outcome"] for o in await world.wait_applied(first)] == ["published"]
    assert [o["outcome"] for o in await world.wait_applied(retracted)] == ["retracted"]
    (outcome,) = await sport.wait_applied(taken)
    assert outcome["outcome"] == "rejected", outcome
    assert outcome["reason"].startswith("section: forbidden"), outcome
    assert "world" in outcome["reason"]
    feed = stack.url("feed")
    assert (await http.get(f"{feed}/v1/articles/s-race")).status_code == 404
    # Sport's cancel came first and holds for sport only: world's first post is published.
    assert [o["outcome"] for o in await sport.wait_applied(canceled)] == ["not_found"]
    assert [o["outcome"] for o in await world.wait_applied(other)] == ["published"]
    assert (await http.get(f"{feed}/v1/articles/s-race2")).status_code == 200


async def test_a_scoped_tokens_cancel_of_an_unknown_id_holds_in_its_sections_only(
    tokens_stack: tuple[Stack, Path], http: httpx.AsyncClient
) -> None:
    """Finding 3b: sport cancels, with a huge version, an id world has not published yet.
    World's post is published (not ``stale`` for 7 days), and the history shows both."""
    stack, _path = tokens_stack
    world, sport, cms = (client_for(stack, http, t) for t in (WORLD, SPORT, CMS))
    feed = stack.url("feed")
    kill = await sport.post_raw(_canceled("urn:lf:s-3b", 10**12), "application/ninjs+json")
    assert [o["outcome"] for o in await sport.wait_applied(kill)] == ["not_found"]
    story = article("urn:lf:s-3b", section="world", title="Talks resume", version=1)
    assert [o["outcome"] for o in await world.apply(story)] == ["published"]
    assert (await http.get(f"{feed}/v1/articles/urn:lf:s-3b")).status_code == 200
    assert await _actions(world, "urn:lf:s-3b") == [
        ("retracted", "sport", 10**12),
        ("published", "world", 1),
    ]

    # In its own sections the cancel holds against the delayed copy it was meant to kill.
    kill = await sport.post_raw(_canceled("urn:lf:s-3b2", 5), "application/ninjs+json")
    assert [o["outcome"] for o in await sport.wait_applied(kill)] == ["not_found"]
    late = await sport.post(article("urn:lf:s-3b2", section="sport", version=4))
    assert [o["outcome"] for o in await sport.wait_applied(late)] == ["stale"]
    assert await _actions(sport, "urn:lf:s-3b2") == [("retracted", "sport", 5)]

    # A retraction by a token of every section holds for every section: no scoped token may
    # post over it, or raise its version.
    gone = await cms.client.delete(f"{cms.base}/v1/articles/s-3c", headers=cms.auth)
    assert [o["outcome"] for o in await cms.wait_applied(gone)] == ["not_found"]
    assert await _actions(cms, "s-3c") == [("retracted", "cms", None)]
    _refused_for_section(await sport.post(article("s-3c", section="sport", version=9)))
    _refused_for_section(await sport.post_raw(_canceled("s-3c", 10**12), "application/ninjs+json"))
    assert await _actions(cms, "s-3c") == [("retracted", "cms", None)]
    assert [o["outcome"] for o in await cms.apply(article("s-3c", version=2))] == ["published"]


async def test_rotating_the_tokens_file_under_load_drops_no_request(
    tokens_stack: tuple[Stack, Path], http: httpx.AsyncClient
) -> None:
    stack, path = tokens_stack
    wire, old, new = (client_for(stack, http, t) for t in (WIRE, DESK_OLD, DESK_NEW))
    assert (await old.post(article("r-0", section="world"))).status_code == 202
    assert (await new.post(article("r-0b"))).status_code == 403
    statuses: list[int] = []
    stop = asyncio.Event()

    async def load(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            response = await wire.post(article(f"load-{worker}-{n}", section="sport"))
            statuses.append(response.status_code)

    loaders = [asyncio.create_task(load(w)) for w in range(4)]
    await eventually(lambda: _at_least(statuses, 20), 10, "load running")
    tokens_file(path, DESK_NEW)
    rotated = time.monotonic()

    async def old_refused() -> bool:
        return (await old.post(article("r-1", section="world"))).status_code == 403

    await eventually(old_refused, 5, "the old token refused")
    assert time.monotonic() - rotated < 2.0
    assert (await new.post(article("r-2", section="world"))).status_code == 202
    before = len(statuses)
    await eventually(lambda: _at_least(statuses, before + 20), 10, "load still running")
    stop.set()
    await asyncio.gather(*loaders)
    assert set(statuses) == {202}, "a request was dropped or refused during the rotation"
    # A file that no longer parses keeps the previous tokens (and is logged).
    path.write_text("desk\n")
    log = stack.workdir / "ingest.log"

    polls = itertools.count()

    async def logged() -> bool:
        # The file is looked at on requests: each one still passes with the kept tokens (a new
        # article each time: the same one again would be answered 200, unchanged).
        posted = await new.post(article(f"r-3-{next(polls)}", section="world"))
        assert posted.status_code == 202
        return "tokens file not reloaded" in log.read_text(errors="replace")

    await eventually(logged, 5, "the bad tokens file reported", interval=0.2)
    tokens_file(path, DESK_OLD)


async def _at_least(values: list[int], count: int) -> bool:
    return len(values) >= count
