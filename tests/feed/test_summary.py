"""The live summary through real services: ``PUT``/``DELETE /v1/summary`` on ingest, the
timeline's ``summary``, the column's views (through the feed's view cache), one ``summary``
frame per change on the WebSocket and SSE (live and on resume), the scope rule, who may set
which, its history, and bad input refused with nothing stored or sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from services.purger.affected import stale_keys
from services.purger.websub import WebSubPinger
from shared import keys
from shared.events import EventId, newest_id, stream_entries
from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.helpers import article, empty_store, eventually, subscribe
from tests.procs import Stack
from tests.sse import sse
from tests.test_tail import tail

DESK = "desk-token-123456"  # no sections: may set any summary
SPORT = "sport-token-123456"  # sport only
TOKENS = f"desk {DESK}\nsport {SPORT} sport\n"
TWO_PARAGRAPHS = "Russia launched 40 drones overnight.\n\nKyiv's air defence downed 35 of them."


@dataclass
class Site:
    stack: Stack
    redis: redis.Redis
    http: httpx.AsyncClient

    @property
    def ingest(self) -> str:
        return self.stack.url("ingest")

    @property
    def feed(self) -> str:
        return self.stack.url("feed")

    def auth(self, token: str = DESK) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def put(self, token: str = DESK, **body: Any) -> httpx.Response:
        return await self.http.put(f"{self.ingest}/v1/summary", json=body, headers=self.auth(token))

    async def delete(self, token: str = DESK, **scope: str) -> httpx.Response:
        return await self.http.delete(
            f"{self.ingest}/v1/summary", params=scope, headers=self.auth(token)
        )

    async def timeline(self, **params: str) -> dict[str, Any]:
        response = await self.http.get(f"{self.feed}/v1/timeline", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def post(self, item: dict[str, Any]) -> None:
        response = await self.http.post(
            f"{self.ingest}/v1/articles", json=item, headers=self.auth()
        )
        assert response.status_code == 202, response.text

    def events(self) -> int:
        return int(self.redis.xlen(keys.EVENTS))


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Stack, redis.Redis]]:
    """ingest, worker, feed and push on a Redis of their own, with a section-scoped token."""
    workdir = short_tmpdir()
    (workdir / "tokens").write_text(TOKENS)
    with EmbeddedRedis(short_tmpdir()) as server:
        running = Stack(
            server.url,
            workdir,
            extra_env={
                "LIVEFEED_TOKENS_FILE": str(workdir / "tokens"),
                "LIVEFEED_TIMEZONE": "Europe/Kyiv",
            },
        ).start()
        client = redis.Redis.from_url(server.url)
        try:
            yield running, client
        finally:
            client.close()
            running.stop()


async def settled(stack: Stack, client: redis.Redis) -> None:
    """Until the push service has fanned out the newest event of the log: a frame of the test
    before never reaches the next one's subscribers."""
    newest = newest_id(client.xrevrange(keys.EVENTS, "+", "-", count=1))

    async def caught_up() -> bool:
        async with subscribe(stack.ws_url) as stream:
            hello = await stream.next()
        return EventId.parse(hello["event_id"]) >= newest

    await eventually(caught_up, what="push has sent the last test's events")


@pytest.fixture
async def site(stack: tuple[Stack, redis.Redis]) -> AsyncIterator[Site]:
    running, client = stack
    await settled(running, client)
    empty_store(client)
    async with httpx.AsyncClient(timeout=10) as http:
        yield Site(running, client, http)


async def test_a_summary_is_stored_answered_in_the_timeline_and_sent_once(site: Site) -> None:
    async with subscribe(site.stack.ws_url) as stream:
        assert (await stream.next())["type"] == "hello"
        response = await site.put(text=f"<p>{TWO_PARAGRAPHS}</p> ", section=None)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["changed"] is True
        summary = body["summary"]
        assert summary["text"] == TWO_PARAGRAPHS  # markup gone, paragraphs kept
        assert summary["by"] == "desk"
        assert summary["updated_at"].endswith(("+02:00", "+03:00"))  # the newsroom's zone
        assert (summary["section"], summary["lang"]) == (None, None)

        frame = await stream.next()
        assert frame == {
            "type": "summary",
            "event_id": body["event_id"],
            "section": None,
            "lang": None,
            "summary": summary,
        }
        timeline = await site.timeline()
        assert timeline["summary"] == summary
        assert timeline["event_id"] == body["event_id"]

        # The same text again changes nothing: no event, no new time, no history entry.
        events = site.events()
        again = await site.put(text=TWO_PARAGRAPHS)
        assert again.status_code == 200
        assert again.json()["changed"] is False
        assert again.json()["event_id"] is None
        assert again.json()["summary"] == summary
        assert site.events() == events
        # The next frame is the next change, a headline: nothing was sent for the repeat.
        await site.post(article("after", title="After the summary"))
        assert (await stream.next())["type"] == "published"

        gone = await site.delete()
        assert gone.status_code == 200, gone.text
        assert gone.json()["changed"] is True
        assert gone.json()["summary"] is None
        frame = await stream.next()
        assert frame == {
            "type": "summary",
            "event_id": gone.json()["event_id"],
            "section": None,
            "lang": None,
            "summary": None,
        }
        assert (await site.timeline())["summary"] is None
        again_gone = await site.delete()
        assert again_gone.json()["changed"] is False
        assert site.events() == events + 2

    history = await site.http.get(f"{site.ingest}/v1/summary/history", headers=site.auth())
    assert history.status_code == 200
    entries = history.json()["history"]
    assert [(e["action"], e["by"], e.get("text")) for e in entries] == [
        ("set", "desk", TWO_PARAGRAPHS),
        ("deleted", "desk", None),
    ]
    assert history.json()["summary"] is None
    assert history.headers["cache-control"] == "private, no-store"


async def test_each_view_shows_the_most_specific_summary_and_falls_back(site: Site) -> None:
    await site.put(text="The whole feed")
    await site.put(text="Sport, every edition", section="sport")
    await site.put(text="Feed, Ukrainian edition", lang="uk-UA")
    await site.put(text="Sport in Ukrainian", section="sport", lang="uk")

    async def shown(**params: str) -> str | None:
        summary = (await site.timeline(**params))["summary"]
        return None if summary is None else str(summary["text"])

    assert await shown() == "The whole feed"
    assert await shown(label="key") == "The whole feed"  # labels play no part
    assert await shown(section="news") == "The whole feed"
    assert await shown(section="sport") == "Sport, every edition"
    assert await shown(lang="uk") == "Feed, Ukrainian edition"
    assert await shown(lang="en") == "The whole feed"
    assert await shown(section="sport", lang="uk") == "Sport in Ukrainian"
    assert await shown(section="sport", lang="en") == "Sport, every edition"
    # Deleting the narrower one falls back to the next.
    await site.delete(section="sport", lang="uk")
    assert await shown(section="sport", lang="uk") == "Sport, every edition"
    await site.delete(section="sport")
    assert await shown(section="sport", lang="uk") == "Feed, Ukrainian edition"
    # The scope as a body works as well as in the query.
    response = await site.http.request(
        "DELETE", f"{site.ingest}/v1/summary", json={"lang": "uk"}, headers=site.auth()
    )
    assert response.json()["changed"] is True
    assert await shown(section="sport", lang="uk") == "The whole feed"


async def test_a_section_token_sets_its_sections_summaries_only(site: Site) -> None:
    mine = await site.put(SPORT, text="Cup final tonight", section="sport")
    assert mine.status_code == 200, mine.text
    assert mine.json()["summary"]["by"] == "sport"
    events = site.events()
    for scope in ({}, {"section": "news"}, {"lang": "uk"}):
        refused = await site.put(SPORT, text="Not mine to say", **scope)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == "section"
        gone = await site.delete(SPORT, **scope)
        assert gone.status_code == 403
    assert site.events() == events
    assert (await site.timeline())["summary"] is None
    assert (await site.timeline(section="sport"))["summary"]["text"] == "Cup final tonight"
    assert (await site.delete(SPORT, section="sport")).json()["changed"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": " \n\n \t"}, "text"),
        ({"text": "x" * 1001}, "text"),
        ({"text": "<b></b><script>alert(1)</script>"}, "text"),
        ({"text": 42}, "text"),
        ({}, "text"),
        ({"text": "ok", "section": "Not a slug!"}, "section"),
        ({"text": "ok", "section": 7}, "section"),
        ({"text": "ok", "lang": "not a language"}, "lang"),
        (["text"], "body"),
    ],
    ids=[
        "empty",
        "blank",
        "1001-chars",
        "markup-only",
        "not-a-string",
        "missing",
        "bad-section",
        "section-not-a-string",
        "bad-lang",
        "not-an-object",
    ],
)
async def test_bad_input_is_named_and_nothing_is_stored_or_sent(
    site: Site, body: Any, field: str
) -> None:
    async with subscribe(site.stack.ws_url) as stream:
        assert (await stream.next())["type"] == "hello"
        response = await site.http.put(f"{site.ingest}/v1/summary", json=body, headers=site.auth())
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field]
        assert site.events() == 0
        assert not list(site.redis.scan_iter(match=f"{keys.SUMMARY_PREFIX}*"))
        assert (await site.timeline())["summary"] is None
        await site.post(article("next", title="The next change"))
        assert (await stream.next())["type"] == "published"  # no summary frame before it


async def test_exactly_1000_characters_are_taken_and_tokens_are_required(site: Site) -> None:
    assert (await site.put(text="y" * 1000)).status_code == 200
    for headers, status in (({}, 401), ({"Authorization": "Bearer wrong-token-1234"}, 403)):
        response = await site.http.put(
            f"{site.ingest}/v1/summary", json={"text": "anyone?"}, headers=headers
        )
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
    response = await site.http.delete(f"{site.ingest}/v1/summary")
    assert response.status_code == 401
    response = await site.http.get(f"{site.ingest}/v1/summary/history")
    assert response.status_code == 401
    for params in ({"section": "Bad!"}, {"lang": "1"}):
        response = await site.http.get(
            f"{site.ingest}/v1/summary/history", params=params, headers=site.auth()
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == next(iter(params))
    assert (await site.timeline())["summary"]["text"] == "y" * 1000


async def test_resuming_with_since_gets_the_summary_frame_in_order(site: Site) -> None:
    since = (await site.timeline())["event_id"]
    await site.post(article("one", title="First"))
    await eventually(lambda: _async(site.events() == 1), what="the first headline applied")
    put = (await site.put(text="Now with a summary", section="news")).json()
    await site.post(article("two", title="Second"))
    await eventually(lambda: _async(site.events() == 3), what="the second headline applied")

    async with subscribe(site.stack.ws_url, since=since) as stream:
        assert (await stream.next())["type"] == "hello"
        frames = await stream.take(3)
    assert [f["type"] for f in frames] == ["published", "summary", "published"]
    assert frames[1]["event_id"] == put["event_id"]
    assert frames[1]["summary"]["text"] == "Now with a summary"
    assert frames[1]["section"] == "news"

    url = f"{site.stack.url('push')}/v1/events"
    async with sse(site.http, url, since=since) as stream:
        assert (await stream.next()).event == "hello"
        messages = await stream.take(3)
    assert [m.event for m in messages] == ["published", "summary", "published"]
    assert messages[1].id == put["event_id"]
    assert messages[1].data == frames[1]


async def test_each_subscriber_gets_the_summaries_of_its_scope_whatever_its_label(
    site: Site,
) -> None:
    filters = [{}, {"section": "sport"}, {"section": "news", "label": "key"}, {"lang": "en"}]
    expected = [
        [("news", None), (None, "uk")],
        [(None, "uk")],
        [("news", None), (None, "uk")],
        [("news", None)],
    ]
    streams = [subscribe(site.stack.ws_url, **params) for params in filters]
    opened = [await stream.__aenter__() for stream in streams]
    try:
        for stream in opened:
            assert (await stream.next())["type"] == "hello"
        await site.put(text="News", section="news")
        await site.put(text="Ukrainian", lang="uk")
        await site.put(text="END")  # the whole feed's: to everyone, the last
        for stream, wanted in zip(opened, expected, strict=True):
            seen = []
            while (frame := await stream.next())["summary"]["text"] != "END":
                seen.append((frame["section"], frame["lang"]))
            assert seen == wanted
    finally:
        for stream in reversed(streams):
            await stream.__aexit__(None, None, None)


async def test_views_show_the_new_summary_at_once_and_name_its_edge_keys(site: Site) -> None:
    await site.put(text="First wording", section="news")
    paths = ["/", "/?section=news", "/v1/fragment?section=news", "/embed?section=news",
             "/v1/timeline?section=news"]  # fmt: skip
    for path in paths:
        response = await site.http.get(site.feed + path)
        assert response.status_code == 200
        if "section=news" in path:
            assert "First wording" in response.text, path
            assert "summary:news:_" in response.headers["surrogate-key"].split(), path
        else:
            assert "First wording" not in response.text
        assert "summary:_:_" in response.headers["surrogate-key"].split(), path
        # Cached: asked again, the same bytes (a view cache hit).
        assert (await site.http.get(site.feed + path)).text == response.text
    rss = await site.http.get(site.feed + "/feed.rss?section=news")
    assert "summary:" not in rss.headers["surrogate-key"]  # feeds never show it

    await site.put(text="Second wording", section="news")
    # Read after the change: the view cache never answers with the old summary.
    for path in paths[1:]:
        text = (await site.http.get(site.feed + path)).text
        assert "Second wording" in text, path
        assert "First wording" not in text, path

    # What the purger and WebSub do with the event: its scope's key, hard; no feed ping.
    raw = stream_entries(site.redis.xrevrange(keys.EVENTS, "+", "-", count=1))
    stale = stale_keys(raw[0][1])
    assert stale.keys == frozenset({"summary:news:_"})
    assert stale.hard
    pinger = WebSubPinger(["http://hub.example/"], "https://news.example")
    pinger.accept(raw)
    assert not pinger._due


async def test_tail_prints_the_summary(site: Site) -> None:
    async with tail(site.stack, "--section", "news") as running:
        await site.put(text=TWO_PARAGRAPHS, section="news")
        line = await running.line()
        assert line.startswith("= summary (section news) ")
        assert line.endswith(
            "by desk: Russia launched 40 drones overnight. ¶ Kyiv's air defence downed 35 of them."
        )
        await site.delete(section="news")
        assert await running.line() == "= summary removed (section news)"


async def _async(value: bool) -> bool:
    return value
