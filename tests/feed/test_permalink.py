"""Permalinks: ``?at=<id>`` opens the timeline around one headline, ``?after=<newer>`` loads the
newer ones above it; a headline the view does not show says why."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from shared import keys
from tests.helpers import Feed, Ingest, article, key_of

START = datetime(2024, 10, 24, 6, 0, tzinfo=UTC)
COUNT = 130


def many(count: int = COUNT, prefix: str = "p", **fields: Any) -> list[dict[str, Any]]:
    """``count`` headlines a minute apart: ``p000`` the oldest."""
    return [
        article(f"{prefix}{n:03d}", published_at=(START + timedelta(minutes=n)).isoformat(),
                **fields)
        for n in range(count)
    ]  # fmt: skip


def newest_first(count: int = COUNT) -> list[str]:
    return [f"p{n:03d}" for n in reversed(range(count))]


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for day in body["days"] for item in day["items"]]


async def get(feed: Feed, path: str, **params: Any) -> httpx.Response:
    return await feed.client.get(f"{feed.base}{path}", params=params)


@pytest.fixture
async def posted(ingest: Ingest) -> list[str]:
    await ingest.apply({"articles": many()})
    return newest_first()


async def test_at_opens_around_a_headline_100_back_and_newer_pages_up_to_the_top(
    feed: Feed, posted: list[str]
) -> None:
    anchor = posted[99]  # the 100th newest
    body = await feed.timeline(at=anchor, limit=10)
    shown = ids(body)
    at = shown.index(anchor)
    assert shown == posted[99 - at : 99 + 11]  # no gap, no repeat, newest first
    assert at == 3  # a few newer above it
    assert body["at"] == anchor
    assert body["next"] is not None
    assert body["newer"] is not None
    assert re.fullmatch(r"[0-9]+-[0-9]+", body["event_id"])
    # "More news" goes on below, exactly as from the anchor's page.
    older = await feed.timeline(before=body["next"], limit=5)
    assert ids(older) == posted[110:115]
    # "Newer headlines" goes up, page by page, without gaps or repeats, to the newest.
    loaded, cursor, pages = [], body["newer"], 0
    while cursor is not None:
        page = await feed.timeline(after=cursor, limit=40)
        assert page["next"] is None
        assert page["pinned"] == []
        loaded = ids(page) + loaded
        cursor, pages = page["newer"], pages + 1
    assert loaded + shown == posted[: 99 + 11]
    assert pages == 3  # 96 newer in pages of 40


async def test_headlines_sharing_a_time_page_up_and_down_from_one_without_gaps(
    ingest: Ingest, feed: Feed
) -> None:
    same = START.isoformat()
    await ingest.apply({"articles": [article(f"tie-{n}", published_at=same) for n in range(9)]})
    everything = await feed.ids(limit=20)
    body = await feed.timeline(at="tie-4", limit=2)
    at = everything.index("tie-4")
    assert ids(body) == everything[at - 3 : at + 3]
    loaded, cursor = [], body["newer"]
    while cursor is not None:
        page = await feed.timeline(after=cursor, limit=1)
        loaded = ids(page) + loaded
        cursor = page["newer"]
    assert loaded + ids(body) == everything[: at + 3]


async def test_an_anchor_among_the_newest_joins_the_top_at_once(
    feed: Feed, posted: list[str]
) -> None:
    body = await feed.timeline(at=posted[1], limit=3)
    assert ids(body) == posted[:5]
    assert body["newer"] is None


async def test_filters_apply_and_an_id_outside_them_is_unknown(ingest: Ingest, feed: Feed) -> None:
    await ingest.apply(
        {
            "articles": [
                *many(20, section="world"),
                article("sport-1", section="sport", published_at=START.isoformat()),
                article("x-lab", section="world", labels=["exclusive"],
                        published_at=(START + timedelta(seconds=30)).isoformat()),
                article("x-sport", section="sport", labels=["exclusive"],
                        published_at=(START + timedelta(seconds=40)).isoformat()),
            ]
        }
    )  # fmt: skip
    body = await feed.timeline(at="p005", section="world", limit=2)
    assert ids(body) == ["p008", "p007", "p006", "p005", "p004", "p003"]
    only = await feed.timeline(at="x-lab", label="exclusive", section="world")
    assert ids(only) == ["x-lab"]  # not the exclusive in sport above it
    assert only["newer"] is None
    both = await feed.timeline(at="x-lab", label="exclusive")
    assert ids(both) == ["x-sport", "x-lab"]
    for params in ({"section": "world", "at": "sport-1"}, {"label": "exclusive", "at": "p005"}):
        response = await get(feed, "/v1/timeline", **params)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == "at"


async def test_a_retracted_an_expired_and_an_unknown_id_are_404_naming_at_with_the_reason(
    ingest: Ingest, feed: Feed, redis_client: redis.Redis
) -> None:
    await ingest.apply({"articles": many(5)})
    gone = await ingest.client.delete(f"{ingest.base}/v1/articles/p002", headers=ingest.auth)
    assert gone.status_code == 202
    await ingest.wait_applied(gone)
    # As the window leaves an item it trimmed (apply.lua: keep_record), and as a tombstone
    # expired after 7 days leaves only the history.
    redis_client.hset(keys.article("old-1"), mapping={"state": "expired", "section": ""})
    redis_client.rpush(keys.history("long-ago"), '{"at":"1","by":"t","action":"retracted"}')
    for at, reason in (
        ("p002", "retracted"),
        ("old-1", "expired"),
        ("long-ago", "retracted"),
        ("never-was", "not found"),
    ):
        response = await get(feed, "/v1/timeline", at=at)
        assert response.status_code == 404, at
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["errors"][0]["field"] == "at"
        assert problem["errors"][0]["reason"].startswith(reason), (at, problem)
    # With a filter, a record outside it is unknown, as any id it does not show.
    response = await get(feed, "/v1/timeline", at="p002", section="elsewhere")
    assert response.json()["errors"][0]["reason"].startswith("not found")


@pytest.mark.parametrize("path", ["/", "/v1/timeline", "/v1/fragment", "/embed"])
@pytest.mark.parametrize(
    "params",
    [
        {"at": "has space"},
        {"at": "x" * 201},
        {"at": "ok-id", "before": "1~a"},
        {"at": "<script>"},
    ],
)
async def test_a_malformed_at_is_400_naming_at(
    feed: Feed, path: str, params: dict[str, str]
) -> None:
    response = await get(feed, path, **params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "at"


@pytest.mark.parametrize("params", [{"after": "nope"}, {"after": "1~a", "before": "1~a"}])
async def test_a_malformed_after_is_400_naming_after(feed: Feed, params: dict[str, str]) -> None:
    response = await get(feed, "/v1/timeline", **params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "after"


async def test_a_change_to_the_anchor_is_read_after_its_event_and_an_unknown_id_once_published(
    ingest: Ingest, feed: Feed
) -> None:
    await ingest.apply({"articles": many(30)})
    first = await feed.timeline(at="p010", limit=3)  # rendered and kept in the view cache
    assert first["days"][0]["items"][3]["title"] == "Headline p010"
    await ingest.apply(article("p010", title="Changed", published_at=START.replace(minute=10)
                               .isoformat(), version=2))  # fmt: skip
    again = await feed.timeline(at="p010", limit=3)
    assert [i["title"] for d in again["days"] for i in d["items"] if i["id"] == "p010"] == [
        "Changed"
    ]
    assert (await get(feed, "/v1/timeline", at="later")).status_code == 404
    await ingest.apply(article("later", published_at=START.isoformat()))
    assert ids(await feed.timeline(at="later", limit=1)) == ["p002", "p001", "p000", "later"]


async def test_html_views_render_around_the_anchor_and_say_when_it_is_gone(
    ingest: Ingest, feed: Feed
) -> None:
    await ingest.apply({"articles": many(60)})
    gone = await ingest.client.delete(f"{ingest.base}/v1/articles/p020", headers=ingest.auth)
    await ingest.wait_applied(gone)
    for path in ("/", "/v1/fragment", "/embed"):
        response = await get(feed, path, at="p010")
        assert response.status_code == 200
        html = response.text
        anchor = r'<article class="item anchor" data-id="p010"[^>]*aria-current="true"'
        assert re.search(anchor, html)
        assert 'class="newer"' in html
        assert "Newer headlines" in html
        assert 'at="p010"' in html
        assert 'data-newer="' in html
        assert "no longer available" not in html
        # Every time links to its headline's permalink.
        assert re.search(r'<a class="time-link"[^>]*href="[^"]*\?at=p011"', html)
        for at, reason in (("p020", "retracted"), ("nope", "may have expired")):
            response = await get(feed, path, at=at)
            assert response.status_code == 200
            assert "This headline is no longer available." in response.text
            assert reason in response.text
            assert 'data-id="p059"' in response.text  # the newest column under it
    # The Ukrainian edition says it in Ukrainian.
    response = await get(feed, "/", at="nope", lang="uk")
    assert "This headline is no longer available." not in response.text
    assert 'class="at-gone"' in response.text


async def test_permalink_views_name_the_anchor_for_the_edge(ingest: Ingest, feed: Feed) -> None:
    await ingest.apply({"articles": many(20, section="world")})
    for path in ("/", "/v1/timeline", "/v1/fragment"):
        for at in ("p005", "not-yet"):
            response = await get(feed, path, at=at, section="world")
            keys_sent = set(response.headers.get("surrogate-key", "").split())
            if response.status_code == 404:
                continue  # a problem is not kept at the edge
            assert key_of(at) in keys_sent, (path, at)
            assert "section:world" in keys_sent


async def test_page_href_sets_where_permalinks_lead(feed: Feed, ingest: Ingest) -> None:
    await ingest.apply({"articles": many(3)})
    fragment = (await get(feed, "/v1/fragment", **{"page-href": "/live?x=1"})).text
    assert 'href="/live?x=1&amp;at=p002"' in fragment
    assert re.search(r'href="http://[^"]+/\?at=p002"', (await get(feed, "/v1/fragment")).text)
    bad = await get(feed, "/v1/fragment", **{"page-href": "//evil.example/"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "page-href"
