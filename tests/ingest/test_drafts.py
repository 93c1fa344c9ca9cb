"""Roles and drafts through the API (issue 25): a contributor's writes are drafts, shown nowhere
until an editor publishes them; publish, return, If-Match conflicts, the desk's stream and the
history. Against real ingest, worker, feed and push processes on a tokens file with roles."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import redis

from shared import keys
from shared.redis_server import EmbeddedRedis
from shared.tokens import from_file
from tests.conftest import short_tmpdir
from tests.helpers import Feed, Ingest, article, subscribe
from tests.procs import Stack, free_port

CMS = "cms-token-1234567"  # LIVEFEED_INGEST_TOKENS: an editor
DESK = "desk-token-1234567"  # tokens file, no role: an editor
RITA = "rita-token-1234567"  # role=editor
REPORTER = "reporter-token-123"  # role=contributor
SPORT = "sport-reporter-tok"  # sport only, role=contributor
TOKENS = (
    f"# newsroom\ndesk {DESK}\nrita {RITA} role=editor\nreporter {REPORTER} role=contributor\n"
    f"sportrep {SPORT} sport role=contributor\n"
)


@pytest.fixture(scope="module")
def desk_stack() -> Iterator[tuple[Stack, redis.Redis]]:
    workdir = short_tmpdir()
    path = workdir / "tokens"
    path.write_text(TOKENS)
    with EmbeddedRedis(short_tmpdir()) as server:
        stack = Stack(
            server.url,
            workdir,
            extra_env={
                "LIVEFEED_INGEST_TOKENS": f"cms:{CMS}",
                "LIVEFEED_TOKENS_FILE": str(path),
                "LIVEFEED_INGEST_RATE_LIMIT": "0",
            },
        ).start()
        client = redis.Redis.from_url(server.url)
        try:
            yield stack, client
        finally:
            client.close()
            stack.stop()


class Desk(Ingest):
    """An ingest client for one token, with the drafts API."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient, token: str) -> None:
        super().__init__(stack, http)
        self.auth = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return await self.client.request(method, f"{self.base}{path}", headers=headers, **kwargs)

    async def drafts(self, **params: str) -> dict[str, Any]:
        response = await self.call("GET", "/v1/drafts", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def history(self, article_id: str) -> list[tuple[str, str]]:
        response = await self.call("GET", f"/v1/articles/{article_id}/history")
        assert response.status_code == 200, response.text
        return [(h["action"], h["by"]) for h in response.json()["history"]]


@pytest.fixture
def desks(
    desk_stack: tuple[Stack, redis.Redis], http: httpx.AsyncClient
) -> tuple[dict[str, Desk], Feed, redis.Redis]:
    stack, store = desk_stack
    doomed = list(store.scan_iter(match="lf:*"))
    if doomed:
        store.delete(*doomed)
    clients = {
        name: Desk(stack, http, token)
        for name, token in (
            ("cms", CMS),
            ("desk", DESK),
            ("rita", RITA),
            ("reporter", REPORTER),
            ("sportrep", SPORT),
        )
    }
    return clients, Feed(stack, http), store


def desk_events(store: redis.Redis) -> list[dict[str, Any]]:
    return [orjson.loads(fields[b"data"]) for _id, fields in store.xrange(keys.DESK_EVENTS)]


async def public_views(feed: Feed, http: httpx.AsyncClient) -> str:
    """The timeline JSON, RSS and fragment as a reader's tools get them, in one string."""
    parts = [orjson.dumps(await feed.timeline()).decode()]
    for path in ("/feed.rss", "/feed.json", "/v1/fragment"):
        response = await http.get(f"{feed.base}{path}")
        assert response.status_code == 200, (path, response.text)
        parts.append(response.text)
    return "\n".join(parts)


async def test_a_contributors_post_is_a_draft_until_an_editor_publishes_it(
    desks: tuple[dict[str, Desk], Feed, redis.Redis], http: httpx.AsyncClient
) -> None:
    clients, feed, store = desks
    reporter, editor = clients["reporter"], clients["rita"]
    await editor.apply(
        article("live-1", title="Already live", published_at="2024-10-24T16:00:00+03:00")
    )
    events_before = store.xlen(keys.EVENTS)
    async with subscribe(editor.stack.ws_url) as stream:
        assert (await stream.next())["type"] == "hello"
        # "published" from a contributor still makes a draft.
        posted = await reporter.post(
            article("d-1", title="Dam breached near Kherson", section="news", status="published")
        )
        assert posted.status_code == 202, posted.text
        result = posted.json()["results"][0]
        assert result["status"] == "draft"
        assert posted.json()["draft"] == 1
        outcomes = await reporter.wait_applied(posted)
        assert outcomes == [{"id": "d-1", "outcome": "draft", "version": 1}]

        listed = (await reporter.drafts())["drafts"]
        assert [(d["id"], d["author"], d["version"], d["returned"]) for d in listed] == [
            ("d-1", "reporter", 1, None)
        ]
        assert listed[0]["title"] == "Dam breached near Kherson"
        # Shown nowhere: not in the timeline, feeds or fragment, no event, no frame.
        assert "Dam breached" not in await public_views(feed, http)
        assert (await http.get(f"{feed.base}/v1/articles/d-1")).status_code == 404
        assert store.xlen(keys.EVENTS) == events_before
        assert not store.exists(keys.article("d-1"))
        assert [e["type"] for e in desk_events(store)] == ["draft"]

        published = await editor.call("POST", "/v1/articles/d-1/publish", json={"version": 1})
        assert published.status_code == 202, published.text
        assert published.json()["results"][0]["action"] == "publish"
        [outcome] = await editor.wait_applied(published)
        assert outcome["outcome"] == "published", outcome
        frame = await stream.next()  # the first frame since hello: the publication, not a draft
        assert (frame["type"], frame["headline"]["id"]) == ("published", "d-1")
    # Dated when published: on top, above the article that was live before.
    assert await feed.ids() == ["d-1", "live-1"]
    assert (await reporter.drafts())["drafts"] == []
    assert [(e["type"], e["id"], e["by"]) for e in desk_events(store)] == [
        ("draft", "d-1", "reporter"),
        ("published", "d-1", "rita"),
    ]
    assert await editor.history("d-1") == [("drafted", "reporter"), ("published", "rita")]
    # A second publish (a retry) finds no draft.
    again = await editor.call("POST", "/v1/articles/d-1/publish")
    assert again.status_code == 404
    assert again.json()["errors"][0]["field"] == "id"


async def test_a_contributor_may_change_drafts_only_and_is_told_its_role(
    desks: tuple[dict[str, Desk], Feed, redis.Redis],
) -> None:
    clients, feed, store = desks
    reporter, editor = clients["reporter"], clients["desk"]
    await editor.apply(article("live-2", section="news"))
    await reporter.apply(article("d-2", section="news"))
    live_before = store.hgetall(keys.article("live-2"))

    refused = {
        "delete": await reporter.call("DELETE", "/v1/articles/d-2"),
        "publish": await reporter.call("POST", "/v1/articles/d-2/publish"),
        "return": await reporter.call("POST", "/v1/articles/d-2/return", json={"note": "x"}),
        "pin": await reporter.post(article("d-3", pinned=True)),
        "correction": await reporter.post(article("d-3", correction="Wrong name.")),
        "put live": await reporter.call("PUT", "/v1/articles/live-2", json=article("live-2")),
        "patch live": await reporter.call(
            "PATCH", "/v1/articles/live-2", json={"title": "Changed"}
        ),
        "summary": await reporter.call("PUT", "/v1/summary", json={"text": "All quiet."}),
        "summary delete": await reporter.call("DELETE", "/v1/summary"),
    }
    for what, response in refused.items():
        assert response.status_code == 403, (what, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), what
        assert [e["field"] for e in response.json()["errors"]] == ["role"], (what, response.text)
    # In a batch, the refused item is rejected naming role; the rest are drafts.
    batch = await reporter.post(
        {"articles": [article("d-4", section="news"), article("live-2", title="Mine")]}
    )
    assert [r["status"] for r in batch.json()["results"]] == ["draft", "rejected"]
    assert batch.json()["results"][1]["errors"][0]["field"] == "role"
    await reporter.wait_applied(batch)
    assert store.hgetall(keys.article("live-2")) == live_before
    assert not store.exists(keys.article("d-3"))
    assert not store.exists(keys.draft("d-3"))
    # Its own drafts (and others') it may change.
    patched = await reporter.call("PATCH", "/v1/articles/d-2", json={"title": "Better title"})
    assert patched.status_code == 202, patched.text
    assert await reporter.wait_applied(patched) == [{"id": "d-2", "outcome": "draft", "version": 2}]
    # A scoped contributor: its sections only.
    sport = clients["sportrep"]
    outside = await sport.post(article("d-5", section="news"))
    assert outside.status_code == 403
    assert outside.json()["errors"][0]["field"] == "section"
    inside = await sport.apply(article("d-6", section="sport"))
    assert inside[0]["outcome"] == "draft"
    assert [d["id"] for d in (await sport.drafts())["drafts"]] == ["d-6"]
    assert [d["id"] for d in (await editor.drafts(section="news"))["drafts"]] == ["d-2", "d-4"]
    assert [d["id"] for d in (await editor.drafts(author="sportrep"))["drafts"]] == ["d-6"]
    assert await feed.ids() == ["live-2"]


async def test_status_and_the_drafts_query_are_checked_naming_the_field(
    desks: tuple[dict[str, Desk], Feed, redis.Redis],
) -> None:
    clients, _feed, store = desks
    editor = clients["cms"]
    bad = await editor.post(article("s-1", status="pending"))
    assert bad.status_code == 422, bad.text
    assert bad.json()["errors"][0]["field"] == "status"
    for params, name in (
        ({"colour": "red"}, "colour"),
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"section": "Not A Slug"}, "section"),
    ):
        response = await editor.call("GET", "/v1/drafts", params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["errors"][0]["field"] == name
    no_note = await editor.call("POST", "/v1/articles/s-1/return", json={"note": " "})
    assert no_note.status_code == 422
    assert no_note.json()["errors"][0]["field"] == "note"
    bad_version = await editor.call("POST", "/v1/articles/s-1/publish", json={"version": "2"})
    assert bad_version.status_code == 422
    assert bad_version.json()["errors"][0]["field"] == "version"
    unknown = await editor.call("POST", "/v1/articles/never/publish")
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["field"] == "id"
    bad_match = await editor.call(
        "PUT", "/v1/articles/s-1", json=article("s-1"), headers={"If-Match": "yes"}
    )
    assert bad_match.status_code == 400
    assert bad_match.json()["errors"][0]["field"] == "If-Match"
    # Nothing stored by any of them (push's reader counts, lf:audience:*, are its own, and the
    # worker's embargo clock marks the store's editions indexed on its first tick).
    own = (b"lf:audience:", keys.EDITIONS_INDEXED.encode())
    stored = [k for k in store.scan_iter(match="lf:*") if not k.startswith(own)]
    assert stored == []


async def test_an_editor_drafts_returns_and_publishes_with_the_version_reviewed(
    desks: tuple[dict[str, Desk], Feed, redis.Redis],
) -> None:
    clients, feed, store = desks
    editor, other, reporter = clients["rita"], clients["desk"], clients["reporter"]
    future = "2099-01-01T00:00:00+00:00"
    drafted = await editor.apply(
        article("e-1", title="Budget vote", status="draft", embargoed_until=future)
    )
    assert drafted == [{"id": "e-1", "outcome": "draft", "version": 1}]
    returned = await other.call(
        "POST", "/v1/articles/e-1/return", json={"note": "Add the vote count.", "version": 1}
    )
    assert returned.status_code == 202, returned.text
    assert (await other.wait_applied(returned))[0]["outcome"] == "returned"
    [listed] = (await editor.drafts())["drafts"]
    assert listed["returned"]["note"] == "Add the vote count."
    assert listed["returned"]["by"] == "desk"
    # The author revises it (a patch keeps it a draft), which answers the note.
    revised = await reporter.call(
        "PATCH", "/v1/articles/e-1", json={"title": "Budget passes 240-120"}
    )
    assert await reporter.wait_applied(revised) == [{"id": "e-1", "outcome": "draft", "version": 2}]
    [listed] = (await editor.drafts())["drafts"]
    assert (listed["version"], listed["returned"], listed["by"]) == (2, None, "reporter")
    # Publishing the version reviewed before the revision: stale, naming who changed it.
    stale = await editor.call("POST", "/v1/articles/e-1/publish", json={"version": 1})
    assert stale.status_code == 200, stale.text
    result = stale.json()["results"][0]
    assert result["status"] == "stale"
    current = result["current"]
    assert (current["version"], current["by"], current["title"]) == (
        2,
        "reporter",
        "Budget passes 240-120",
    )
    assert current["at"].endswith(("+02:00", "+03:00"))
    assert store.exists(keys.draft("e-1"))
    # The version reviewed now: published as embargoed (its embargo is in the future).
    ok = await editor.call("POST", "/v1/articles/e-1/publish", json={"version": 2})
    assert [o["outcome"] for o in await editor.wait_applied(ok)] == ["embargoed"]
    assert await feed.ids() == []
    assert store.hget(keys.article("e-1"), "state") == b"embargoed"
    assert await editor.history("e-1") == [
        ("drafted", "rita"),
        ("returned", "desk"),
        ("drafted", "reporter"),
        ("embargoed", "rita"),
    ]
    assert [e["type"] for e in desk_events(store)] == ["draft", "returned", "draft", "published"]
    # An editor's DELETE of a draft discards it, leaving no tombstone.
    await editor.apply(article("e-2", status="draft"))
    gone = await editor.call("DELETE", "/v1/articles/e-2")
    assert await editor.wait_applied(gone) == [{"id": "e-2", "outcome": "discarded"}]
    assert not store.exists(keys.draft("e-2"))
    assert not store.exists(keys.article("e-2"))
    assert desk_events(store)[-1]["type"] == "discarded"


async def test_two_editors_at_once_the_second_is_told_who_changed_it(
    desks: tuple[dict[str, Desk], Feed, redis.Redis],
) -> None:
    clients, feed, _store = desks
    rita, desk = clients["rita"], clients["desk"]
    await rita.apply(article("c-1", title="Storm warning", section="news"))
    opened = await rita.call("GET", "/v1/articles/c-1")
    assert opened.status_code == 200, opened.text
    assert opened.headers["etag"] == '"1"'
    assert opened.json()["version"] == 1
    assert opened.json()["article"]["title"] == "Storm warning"
    # Both open version 1; desk saves first.
    first = await desk.call(
        "PATCH", "/v1/articles/c-1", json={"title": "Storm warning: schools shut"},
        headers={"If-Match": '"1"'},
    )  # fmt: skip
    assert [o["outcome"] for o in await desk.wait_applied(first)] == ["updated"]
    second = await rita.call(
        "PATCH", "/v1/articles/c-1", json={"title": "Storm warning for Odesa"},
        headers={"If-Match": '"1"'},
    )  # fmt: skip
    assert second.status_code == 200, second.text
    result = second.json()["results"][0]
    assert result["status"] == "stale"
    assert (result["current"]["version"], result["current"]["by"]) == (2, "desk")
    assert result["current"]["title"] == "Storm warning: schools shut"
    assert (await feed.timeline())["days"][0]["items"][0]["title"] == "Storm warning: schools shut"
    # Overwrite: the same write without If-Match.
    again = await rita.call("PATCH", "/v1/articles/c-1", json={"title": "Storm warning for Odesa"})
    assert [o["outcome"] for o in await rita.wait_applied(again)] == ["updated"]
    assert (await feed.timeline())["days"][0]["items"][0]["title"] == "Storm warning for Odesa"
    assert (await rita.call("GET", "/v1/articles/c-1")).headers["etag"] == '"3"'


def test_a_role_that_is_not_one_stops_start_up_naming_the_line(
    desk_stack: tuple[Stack, redis.Redis],
) -> None:
    stack, _store = desk_stack
    bad = stack.workdir / "bad-roles"
    bad.write_text(f"desk {DESK}\nreporter {REPORTER} role=writer\n")
    service = stack.start_service(
        "ingest",
        key="ingest-bad",
        LIVEFEED_TOKENS_FILE=str(bad),
        LIVEFEED_INGEST_PORT=str(free_port()),
    )
    assert service.process is not None
    assert service.process.wait(timeout=30) != 0
    log = service.log_path.read_text(errors="replace")
    assert f"{bad} line 2: role: 'writer' is not a role" in log, log
    assert [t.role for t in from_file(TOKENS)] == ["editor", "editor", "contributor", "contributor"]
    os.unlink(bad)


# -- the desk review's findings -------------------------------------------------------------


async def test_a_section_scoped_token_reads_no_draft_or_article_of_another_section(
    desks: tuple[dict[str, Desk], Feed, redis.Redis],
) -> None:
    """GET /v1/articles/{id} on ingest (and /desk/article/{id}, the same view) shows a scoped
    token only what it may change: another section's draft or embargoed article is a 404, as
    an unknown id is, never its text."""
    clients, _feed, _store = desks
    reporter, sport, editor = clients["reporter"], clients["sportrep"], clients["desk"]
    await reporter.apply(article("n-1", title="Secret news draft", section="news"))
    await editor.apply(
        article("n-2", title="Embargoed news", section="news",
                embargoed_until="2099-01-01T00:00:00+00:00")
    )  # fmt: skip
    await sport.apply(article("s-1", title="Sport draft", section="sport"))
    for article_id in ("n-1", "n-2"):
        hidden = await sport.call("GET", f"/v1/articles/{article_id}")
        assert hidden.status_code == 404, (article_id, hidden.text)
        assert hidden.headers["content-type"].startswith("application/problem+json")
        assert hidden.json()["errors"][0]["field"] == "id"
        assert "Secret" not in hidden.text
        assert "Embargoed" not in hidden.text
        seen = await editor.call("GET", f"/v1/articles/{article_id}")  # every section
        assert seen.status_code == 200, seen.text
    mine = await sport.call("GET", "/v1/articles/s-1")
    assert mine.status_code == 200, mine.text
    assert mine.json()["draft"]["title"] == "Sport draft"


async def test_a_draft_whose_title_was_escaped_markup_publishes(
    desks: tuple[dict[str, Desk], Feed, redis.Redis],
) -> None:
    """A title sent as "&lt;b&gt;" is the text "<b>" once stored: publishing the draft checks
    the stored text as stored (not stripped again to nothing: a 500 before)."""
    clients, feed, _store = desks
    editor = clients["rita"]
    drafted = await editor.apply(article("m-1", title="&lt;b&gt;", status="draft"))
    assert drafted == [{"id": "m-1", "outcome": "draft", "version": 1}]
    published = await editor.call("POST", "/v1/articles/m-1/publish", json={"version": 1})
    assert published.status_code == 202, published.text
    assert [o["outcome"] for o in await editor.wait_applied(published)] == ["published"]
    assert (await feed.timeline())["days"][0]["items"][0]["title"] == "<b>"


async def test_an_editor_drafts_a_change_to_a_live_item_from_the_version_it_opened(
    desks: tuple[dict[str, Desk], Feed, redis.Redis],
) -> None:
    """The desk's "Save as draft" on a live headline: If-Match is the article's version (there
    is no draft yet), so the draft is saved, and the live copy stays as it is."""
    clients, feed, _store = desks
    rita, desk = clients["rita"], clients["desk"]
    await rita.apply(article("v-1", title="Ceasefire talks", section="news"))
    opened = await rita.call("GET", "/v1/articles/v-1")
    assert opened.headers["etag"] == '"1"'
    saved = await rita.call(
        "PATCH", "/v1/articles/v-1", json={"title": "Ceasefire agreed", "status": "draft"},
        headers={"If-Match": '"1"'},
    )  # fmt: skip
    assert saved.status_code == 202, saved.text
    assert saved.json()["results"][0]["status"] == "draft"
    assert await rita.wait_applied(saved) == [{"id": "v-1", "outcome": "draft", "version": 1}]
    [listed] = (await rita.drafts())["drafts"]
    assert (listed["id"], listed["title"], listed["state"]) == ("v-1", "Ceasefire agreed", "live")
    assert (await feed.timeline())["days"][0]["items"][0]["title"] == "Ceasefire talks"
    # Started from a version the article has left: a conflict naming who changed it.
    await desk.apply(article("v-2", title="Port reopens", section="news"))
    await desk.apply(article("v-2", title="Port reopens at noon", section="news", version=2))
    stale = await rita.call(
        "PATCH", "/v1/articles/v-2", json={"title": "Mine", "status": "draft"},
        headers={"If-Match": '"1"'},
    )  # fmt: skip
    result = stale.json()["results"][0]
    assert result["status"] == "stale", stale.text
    assert (result["current"]["version"], result["current"]["by"]) == (2, "desk")
    assert result["current"]["title"] == "Port reopens at noon"


async def signed_in(desk: Desk, token: str) -> dict[str, str]:
    """A desk session of ``token`` (POST /desk/login): the headers its page's requests carry."""
    origin = desk.base
    response = await desk.client.post(
        f"{origin}/desk/login", data={"token": token}, headers={"Origin": origin}
    )
    assert response.status_code == 303, response.text
    cookie = {"Cookie": f"livefeed_session={response.cookies['livefeed_session']}"}
    desk.client.cookies.clear()
    page = await desk.client.get(f"{origin}/desk", headers=cookie)
    csrf = re.search(r'"csrf":"([^"]+)"', page.text)
    assert csrf is not None, page.text[:300]
    return {**cookie, "Origin": origin, "X-CSRF-Token": csrf.group(1)}


async def test_desk_sessions_keep_their_own_idempotency_keys_and_no_token_digest(
    desks: tuple[dict[str, Desk], Feed, redis.Redis],
) -> None:
    """Two editors' desks that happen to send the same Idempotency-Key each get their own
    answer (keys are the token's, as for a bearer); what Redis keeps of a session names no
    token, not even its plain SHA-256."""
    clients, _feed, store = desks
    base = clients["rita"]
    rita, desk = await signed_in(base, RITA), await signed_in(base, DESK)
    key = {"Idempotency-Key": "desk-20261206-abc"}
    first = await base.client.post(
        f"{base.base}/v1/articles", json=article("k-1", status="draft"), headers={**rita, **key}
    )
    second = await base.client.post(
        f"{base.base}/v1/articles", json=article("k-2", status="draft"), headers={**desk, **key}
    )
    assert first.status_code == 202, first.text
    assert second.status_code == 202, second.text
    assert second.json()["results"][0]["id"] == "k-2"
    await base.wait_applied(first)
    await base.wait_applied(second)
    assert sorted(d["author"] for d in (await base.drafts())["drafts"]) == ["desk", "rita"]
    records = b"".join(store.get(k) or b"" for k in store.scan_iter(match="lf:desk:session:*"))
    assert records.count(b'"name"') == 2
    for token in (RITA, DESK):
        assert token.encode() not in records
        assert hashlib.sha256(token.encode()).hexdigest().encode() not in records


async def test_a_cookie_signed_with_an_old_secret_is_signed_out_not_a_guess(
    desks: tuple[dict[str, Desk], Feed, redis.Redis],
) -> None:
    """After a redeploy with a new LIVEFEED_SESSION_SECRET, a newsroom's old cookies (all from
    one address behind its proxy) are answered 401 (sign in again), and never use up the
    address's failed-sign-in allowance (10 a minute): the sign-in that follows works."""
    clients, _feed, _store = desks
    base = clients["rita"]
    old = {"Cookie": "livefeed_session=c2Vzc2lvbi1pZA.bm90LXRoaXMtc2VjcmV0cy1zaWduYXR1cmU"}
    for _ in range(12):
        response = await base.client.get(f"{base.base}/v1/drafts", headers=old)
        assert response.status_code == 401, response.text
        assert response.json()["errors"][0]["field"] == "livefeed_session"
    # The sign-in page tells the browser to drop the dead cookie.
    page = await base.client.get(f"{base.base}/desk", headers=old)
    assert page.status_code == 200
    dropped = page.headers.get("set-cookie", "")
    assert dropped.startswith("livefeed_session="), dropped
    assert "Max-Age=0" in dropped, dropped
    base.client.cookies.clear()
    again = await base.client.post(
        f"{base.base}/desk/login", data={"token": RITA}, headers={"Origin": base.base}
    )
    assert again.status_code == 303, again.text
    base.client.cookies.clear()
