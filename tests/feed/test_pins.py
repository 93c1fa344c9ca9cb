"""Pinned items: at most LIVEFEED_MAX_PINNED (3) per section, the oldest pin dropping off; the
timeline's top-level ``pinned`` list honours the filters; pin and unpin are ``updated`` frames
that say so; pins survive in Redis and go with the article."""

from __future__ import annotations

import httpx

from tests.helpers import Feed, Ingest, article, subscribe
from tests.procs import Stack


def _ids(items: list[dict[str, object]]) -> list[object]:
    return [item["id"] for item in items]


async def test_a_fourth_pin_unpins_the_oldest_and_the_frames_say_so(
    ingest: Ingest, feed: Feed, fresh: Stack
) -> None:
    for n in range(1, 5):
        await ingest.apply(article(f"pin-{n}", section="news", version=1, labels=["key"] * (n % 2)))
    await ingest.apply(article("other", section="sport", version=1, pinned=True))
    async with subscribe(fresh.ws_url, section="news") as ws:
        assert (await ws.next())["type"] == "hello"
        for n in range(1, 4):
            await ingest.apply(article(f"pin-{n}", section="news", version=2, pinned=True,
                                       labels=["key"] * (n % 2)))  # fmt: skip
        outcome = await ingest.apply(
            article("pin-4", section="news", version=2, pinned=True, labels=[])
        )
        frames = await ws.take(5)
    assert outcome[0]["pinned"] is True
    assert outcome[0]["unpinned"] == ["pin-1"]  # answered in the per-item result
    assert [(f["type"], f["headline"]["id"], f.get("pin")) for f in frames] == [
        ("updated", "pin-1", "pinned"),
        ("updated", "pin-2", "pinned"),
        ("updated", "pin-3", "pinned"),
        ("updated", "pin-4", "pinned"),
        ("updated", "pin-1", "unpinned"),
    ]
    assert frames[-1]["headline"]["pinned"] is False

    news = await feed.timeline(section="news")
    assert _ids(news["pinned"]) == ["pin-4", "pin-3", "pin-2"]  # newest pin first
    assert all(item["pinned"] for item in news["pinned"])
    # The items stay in their day too.
    assert set(await feed.ids(section="news")) == {"pin-1", "pin-2", "pin-3", "pin-4"}
    everything = await feed.timeline()
    assert _ids(everything["pinned"]) == ["pin-4", "pin-3", "pin-2", "other"]
    assert _ids((await feed.timeline(label="key"))["pinned"]) == ["pin-3"]
    # "More news" pages do not repeat the pins.
    older = await feed.timeline(before=everything["next"]) if everything["next"] else None
    assert older is None or older["pinned"] == []


async def test_an_update_keeps_the_pin_unpin_drops_it_retraction_takes_it_along(
    ingest: Ingest, feed: Feed, http: httpx.AsyncClient
) -> None:
    await ingest.apply(article("p", section="news", version=1, pinned=True))
    await ingest.apply(article("p", section="news", version=2, title="Edited, still pinned"))
    assert _ids((await feed.timeline())["pinned"]) == ["p"]
    await ingest.apply(article("p", section="news", version=3, pinned=False))
    assert (await feed.timeline())["pinned"] == []
    await ingest.apply(article("p", section="news", version=4, pinned=True))
    response = await ingest.client.delete(f"{ingest.base}/v1/articles/p", headers=ingest.auth)
    await ingest.wait_applied(response)
    assert (await feed.timeline())["pinned"] == []
    # A new version brings it back unpinned: the pin went with the retracted article.
    await ingest.apply(article("p", section="news", version=5))
    assert (await feed.timeline())["pinned"] == []
    bad = await ingest.post(article("q", pinned="yes"))
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["pinned"]
