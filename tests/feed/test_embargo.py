"""Embargo end to end: invisible everywhere until its time, then published by itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import feedparser

from tests.helpers import Feed, Ingest, Stream, article, subscribe
from tests.procs import Stack


def in_seconds(seconds: float) -> tuple[str, float]:
    """An RFC 3339 time ``seconds`` from now, and the same moment as a Unix time."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.isoformat(), moment.timestamp()


async def invisible(feed: Feed, article_id: str) -> None:
    """Not on the timeline (any filter), not at /v1/articles/{id}."""
    assert article_id not in await feed.ids(limit=200)
    assert article_id not in await feed.ids(limit=200, label="breaking")
    single = await feed.client.get(f"{feed.base}/v1/articles/{article_id}")
    assert single.status_code == 404


async def stays_invisible_until(feed: Feed, article_id: str, moment: float) -> None:
    """Keep checking that it is hidden until ``moment`` (a Unix time) has passed."""
    while time.time() < moment:
        await invisible(feed, article_id)


async def no_frame_but_marker(ingest: Ingest, stream: Stream, name: str) -> None:
    """Nothing was pushed since the last frame read: the next one is a fresh marker's."""
    await ingest.apply(article(name))
    frame = await stream.next()
    assert frame["headline"]["id"] == name, frame


async def test_an_embargoed_article_appears_by_itself(
    ingest: Ingest, feed: Feed, fresh: Stack
) -> None:
    release, release_ts = in_seconds(2.0)
    async with subscribe(fresh.ws_url) as stream:
        await stream.next()  # hello
        outcomes = await ingest.apply(
            article("embargoed-1", title="Budget vote result", urgency=1, embargoed_until=release)
        )
        assert outcomes[0]["outcome"] == "embargoed"
        await invisible(feed, "embargoed-1")
        await no_frame_but_marker(ingest, stream, "marker-1")
        # No further request: the worker's clock publishes it at its time.
        frame = await stream.next(timeout=10)
        assert time.time() >= release_ts - 0.05
        assert frame["type"] == "published"
        assert frame["headline"]["id"] == "embargoed-1"
        assert frame["headline"]["breaking"] is True
    assert "embargoed-1" in await feed.ids()
    single = await feed.client.get(f"{feed.base}/v1/articles/embargoed-1")
    assert single.json()["title"] == "Budget vote result"
    assert await feed.ids(label="breaking") == ["embargoed-1"]


async def test_an_update_moves_or_lifts_the_embargo(
    ingest: Ingest, feed: Feed, fresh: Stack
) -> None:
    first, first_ts = in_seconds(1.5)
    later, _ = in_seconds(3600)
    async with subscribe(fresh.ws_url) as stream:
        await stream.next()
        await ingest.apply(article("moved", version=1, embargoed_until=first))
        moved = await ingest.apply(article("moved", version=2, embargoed_until=later))
        assert moved[0]["outcome"] == "embargoed"
        # The first time passes and nothing appears: the embargo was moved an hour on.
        await stays_invisible_until(feed, "moved", first_ts + 1.0)
        await no_frame_but_marker(ingest, stream, "marker-2")
        # A version without an embargo lifts it at once.
        lifted = await ingest.apply(article("moved", title="Now public", version=3))
        assert lifted[0]["outcome"] == "published"
        frame = await stream.next()
        assert (frame["type"], frame["headline"]["title"]) == ("published", "Now public")
    assert "moved" in await feed.ids()


async def test_retracting_an_embargoed_article_cancels_it(
    ingest: Ingest, feed: Feed, fresh: Stack
) -> None:
    release, release_ts = in_seconds(1.5)
    async with subscribe(fresh.ws_url) as stream:
        await stream.next()
        await ingest.apply(article("cancelled", embargoed_until=release))
        deleted = await ingest.client.delete(
            f"{ingest.base}/v1/articles/cancelled", headers=ingest.auth
        )
        assert [o["outcome"] for o in await ingest.wait_applied(deleted)] == ["retracted"]
        await stays_invisible_until(feed, "cancelled", release_ts + 1.0)
        await no_frame_but_marker(ingest, stream, "marker-3")
    # An older copy arriving late cannot bring it back either.
    late = await ingest.apply(article("cancelled", embargoed_until=release))
    assert late[0]["outcome"] == "unchanged"
    await invisible(feed, "cancelled")


async def test_a_ninjs_embargo_is_honoured(ingest: Ingest, feed: Feed, fresh: Stack) -> None:
    release, _ = in_seconds(1.5)
    item = {
        "uri": "urn:newsml:example.com:embargoed-ninjs",
        "version": "1",
        "firstcreated": "2024-10-24T12:00:00+03:00",
        "headlines": [{"value": "Embargoed ninjs story"}],
        "embargoed": release,
    }
    async with subscribe(fresh.ws_url) as stream:
        await stream.next()
        response = await ingest.post(item)
        assert [o["outcome"] for o in await ingest.wait_applied(response)] == ["embargoed"]
        await invisible(feed, item["uri"])
        frame = await stream.next(timeout=10)
        assert (frame["type"], frame["headline"]["id"]) == ("published", item["uri"])


async def feed_ids(feed: Feed) -> dict[str, set[str]]:
    """Article ids (or links) in each of /feed.rss, /feed.atom and /feed.json."""
    found: dict[str, set[str]] = {}
    for name in ("feed.rss", "feed.atom", "feed.json"):
        response = await feed.client.get(f"{feed.base}/{name}")
        assert response.status_code == 200, response.text
        if name == "feed.json":
            found[name] = {str(item["id"]) for item in response.json()["items"]}
        else:
            parsed = feedparser.parse(response.content)
            found[name] = {str(entry.get("id") or entry.get("link")) for entry in parsed.entries}
    return found


async def test_feeds_hide_an_embargo_then_carry_it_as_breaking(
    ingest: Ingest, feed: Feed, fresh: Stack
) -> None:
    release, release_ts = in_seconds(2.0)
    item = {
        "uri": "urn:newsml:example.com:feed-embargo",
        "version": "1",
        "firstcreated": "2024-10-24T12:00:00+03:00",
        "urgency": 1,
        "headlines": [{"value": "Parliament dissolved"}],
        "embargoed": release,
    }
    await ingest.apply(
        article(
            "visible-one", published_at="2024-10-24T09:00:00+03:00", url="https://example.com/v"
        )
    )
    async with subscribe(fresh.ws_url) as stream:
        await stream.next()
        await ingest.wait_applied(await ingest.post(item))
        while time.time() < release_ts:
            for ids in (await feed_ids(feed)).values():
                assert len(ids) == 1
                assert not any("feed-embargo" in i for i in ids)
        frame = await stream.next(timeout=10)
        assert frame["headline"]["breaking"] is True
    for name, ids in (await feed_ids(feed)).items():
        assert len(ids) == 2, name
        assert any("feed-embargo" in i for i in ids), name
    rss = feedparser.parse((await feed.client.get(f"{feed.base}/feed.rss")).content)
    newest = rss.entries[0]
    assert newest.title == "Parliament dissolved"
    assert "breaking" in {tag["term"] for tag in newest.get("tags", [])}
    timeline_item = (await feed.timeline())["days"][0]["items"][0]
    assert timeline_item["breaking"] is True
    assert timeline_item["labels"][0] == "breaking"
