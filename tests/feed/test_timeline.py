"""The timeline API: the seed page's column comes back grouped, timed and labelled as shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import Feed, Ingest, article
from tests.seedpage import read_column

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.json"


def seed_articles() -> list[dict[str, object]]:
    articles: list[dict[str, object]] = json.loads(SEED.read_text())["articles"]
    return articles


async def test_seed_headlines_come_back_as_the_seed_page_shows_them(
    ingest: Ingest, feed: Feed
) -> None:
    outcomes = await ingest.apply({"articles": seed_articles()})
    assert [o["outcome"] for o in outcomes] == ["published"] * 40

    body = await feed.timeline(limit=100)
    expected = read_column()
    assert [(d["date"], d["label"]) for d in body["days"]] == [(d.date, d.label) for d in expected]
    for got, want in zip(body["days"], expected, strict=True):
        assert [(i["time"], i["title"], i["labels"]) for i in got["items"]] == [
            (i.time, i.title, [label.lower() for label in i.labels]) for i in want.items
        ]
    assert body["days"][0]["label"] == "2024, Thursday 24 October"
    assert body["next"] is None


async def test_more_news_pages_back_without_gaps_or_repeats(ingest: Ingest, feed: Feed) -> None:
    await ingest.apply({"articles": seed_articles()})
    everything = await feed.ids(limit=100)
    seen: list[str] = []
    params: dict[str, object] = {"limit": 7}
    while True:
        page = await feed.timeline(**params)
        seen += [item["id"] for day in page["days"] for item in day["items"]]
        if page["next"] is None:
            break
        params = {"limit": 7, "before": page["next"]}
    assert seen == everything
    assert len(seen) == 40


async def test_items_sharing_a_minute_page_in_a_stable_order(ingest: Ingest, feed: Feed) -> None:
    same = "2024-10-24T12:00:00+03:00"
    await ingest.apply({"articles": [article(f"tie-{n}", published_at=same) for n in range(9)]})
    first = await feed.timeline(limit=4)
    second = await feed.timeline(limit=4, before=first["next"])
    third = await feed.timeline(limit=4, before=second["next"])
    ids = [i["id"] for page in (first, second, third) for d in page["days"] for i in d["items"]]
    assert sorted(ids) == sorted(f"tie-{n}" for n in range(9))
    assert len(set(ids)) == 9


async def test_section_and_label_filters(ingest: Ingest, feed: Feed) -> None:
    await ingest.apply(
        {
            "articles": [
                article("s1", section="world", labels=["Exclusive"]),
                article("s2", section="world", published_at="2024-10-24T17:00:00+03:00"),
                article("s3", section="sport", labels=["exclusive", "Review"]),
            ]
        }
    )
    assert await feed.ids(section="world") == ["s2", "s1"]
    assert sorted(await feed.ids(label="Exclusive")) == ["s1", "s3"]
    assert await feed.ids(label="exclusive", section="sport") == ["s3"]
    assert await feed.ids(section="nothing-here") == []


async def test_day_grouping_follows_the_newsroom_zone_across_midnight(
    ingest: Ingest, feed: Feed
) -> None:
    # 22:30 UTC on 31 Oct is 00:30 on 1 Nov in Kyiv (UTC+2 after the DST change on 27 Oct).
    await ingest.apply({"articles": [article("late", published_at="2024-10-31T22:30:00Z")]})
    day = (await feed.timeline())["days"][0]
    assert day["date"] == "2024-11-01"
    assert day["label"] == "2024, Friday 1 November"
    assert day["items"][0]["time"] == "00:30"


async def test_article_endpoint_and_bad_queries(ingest: Ingest, feed: Feed) -> None:
    await ingest.apply(article("one/with:odd.chars_1", title="Readable"))
    response = await feed.client.get(f"{feed.base}/v1/articles/one/with:odd.chars_1")
    assert response.status_code == 200
    assert response.json()["title"] == "Readable"
    missing = await feed.client.get(f"{feed.base}/v1/articles/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    for params, field in [
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"before": "garbage"}, "before"),
        ({"section": "Not A Slug"}, "section"),
        ({"label": "<script>"}, "label"),
    ]:
        bad = await feed.client.get(f"{feed.base}/v1/timeline", params=params)
        assert bad.status_code == 400, params
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["errors"][0]["field"] == field


@pytest.mark.parametrize("path", ["/v1/timeline", "/", "/feed.rss", "/feed.atom", "/feed.json"])
@pytest.mark.parametrize("limit", ["²", "٣", "1²", "-1", "+5", " 5", "99999999999999999999"])
async def test_a_limit_that_is_not_ascii_digits_is_a_400_everywhere(
    feed: Feed, path: str, limit: str
) -> None:
    bad = await feed.client.get(f"{feed.base}{path}", params={"limit": limit})
    assert bad.status_code == 400, (path, limit, bad.text[:200])
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"][0]["field"] == "limit"


async def test_more_news_cursors_work_before_1970(ingest: Ingest, feed: Feed) -> None:
    moments = [f"1969-07-{day:02d}T20:17:00Z" for day in range(15, 22)] + [
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:00.001Z",
    ]
    await ingest.apply(
        {"articles": [article(f"old-{n}", published_at=m) for n, m in enumerate(moments)]}
    )
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    while True:
        page = await feed.timeline(**params)
        seen.extend(item["id"] for day in page["days"] for item in day["items"])
        if page["next"] is None:
            break
        params["before"] = page["next"]
    assert seen == [f"old-{n}" for n in reversed(range(len(moments)))]
