"""Views are served from memory, and never older than an event the reader has already seen."""

from __future__ import annotations

import asyncio
import itertools

import httpx

from shared.events import EventId
from tests.helpers import Feed, Ingest, article, eventually
from tests.ops.metrics_client import scrape, value
from tests.procs import Stack, free_port
from tests.sse import sse

WRITES_PER_S = 50
CHECKED_EVENTS = 120


def _ids(body: dict[str, object]) -> dict[str, str]:
    days = body["days"]
    assert isinstance(days, list)
    return {item["id"]: item["title"] for day in days for item in day["items"]}


async def test_a_read_after_an_event_never_returns_the_state_before_it(
    ingest: Ingest, feed: Feed, fresh: Stack, http: httpx.AsyncClient
) -> None:
    """Under 50 writes/s: each event seen over SSE is in the very next GET of the timeline."""
    stop = asyncio.Event()
    checked_published: list[str] = []

    async def writer() -> None:
        # New articles, updates of recent ones and retractions, at a steady rate.
        for n in itertools.count():
            if stop.is_set():
                return
            if n % 5 == 3:
                payload = {"articles": [article(f"rc-{n - 1}", title=f"Edited {n - 1}", version=2)]}
                await ingest.post(payload)
            elif n % 5 == 4:
                await http.delete(f"{ingest.base}/v1/articles/rc-{n - 4}", headers=ingest.auth)
            else:
                await ingest.post({"articles": [article(f"rc-{n}", title=f"Title {n}")]})
            await asyncio.sleep(1 / WRITES_PER_S)

    url = fresh.url("push") + "/v1/events"
    async with sse(http, url) as stream:
        assert (await stream.next()).event == "hello"
        task = asyncio.create_task(writer())
        try:
            for _ in range(CHECKED_EVENTS):
                event = await stream.next(timeout=10)
                assert event.id is not None
                headline = event.data["headline"]
                body = await feed.timeline(limit=200)
                # The page and its event id are read atomically: an id at or past E means the
                # page shows E's change (and maybe later ones), never the state before it.
                assert EventId.parse(body["event_id"]) >= EventId.parse(event.id), (
                    f"{event.event} {event.id}: timeline served as of {body['event_id']}"
                )
                shown = _ids(body)
                one = await http.get(f"{feed.base}/v1/articles/{headline['id']}")
                if event.event == "retracted":  # final: the writer never re-publishes an id
                    assert headline["id"] not in shown, f"{event.id}: retracted still listed"
                    assert one.status_code == 404, f"{event.id}: retracted article still served"
                elif event.event == "updated":  # the title before the edit never comes back
                    old = headline["title"].replace("Edited", "Title")
                    assert shown.get(headline["id"]) != old
                    assert one.status_code == 404 or one.json()["title"] != old
                else:
                    checked_published.append(headline["id"])
        finally:
            stop.set()
            await task
    assert len(checked_published) > CHECKED_EVENTS / 2


async def test_repeated_reads_are_served_from_memory_and_a_change_is_seen(
    ingest: Ingest, feed: Feed, http: httpx.AsyncClient
) -> None:
    await ingest.apply(article("mem-1", title="Before"))

    async def views(result: str) -> float:
        text = (await http.get(f"{feed.base}/metrics")).text
        line = next(
            line
            for line in text.splitlines()
            if line.startswith(f'livefeed_feed_views_total{{result="{result}"}}')
        )
        return float(line.rsplit(" ", 1)[1])

    first = await http.get(f"{feed.base}/")
    hits = await views("hit")
    for _ in range(20):
        again = await http.get(f"{feed.base}/")
        assert again.content == first.content
    assert await views("hit") >= hits + 20  # none of them rendered the page again

    await ingest.apply(article("mem-1", title="After", version=2))
    # Applied means the event is in the log: the very next read shows it, cached or not.
    page = await http.get(f"{feed.base}/")
    assert "After" in page.text
    assert "Before" not in page.text
    assert page.headers["etag"] != first.headers["etag"]
    not_modified = await http.get(f"{feed.base}/", headers={"If-None-Match": page.headers["etag"]})
    assert not_modified.status_code == 304


async def _views(http: httpx.AsyncClient, base: str) -> tuple[float, float]:
    samples = await scrape(http, base)
    return (
        value(samples, "livefeed_feed_views_total", result="hit"),
        value(samples, "livefeed_feed_views_total", result="miss"),
    )


async def _settled(http: httpx.AsyncClient, base: str, path: str) -> httpx.Response:
    """``path`` once it is served from memory (the stream consumer has dropped the views the
    last write made old: nothing will drop this one until the next write)."""

    async def served_from_memory() -> httpx.Response | None:
        response = await http.get(base + path)
        hits, misses = await _views(http, base)
        again = await http.get(base + path)
        after = await _views(http, base)
        fresh = after == (hits + 1, misses) and again.content == response.content
        return again if fresh else None

    return await eventually(served_from_memory, what=f"{path} served from memory")


async def test_every_cursor_that_gives_the_first_page_shares_its_entry(
    ingest: Ingest, feed: Feed, http: httpx.AsyncClient
) -> None:
    """Issue 21, finding 4: ``before=9999999999999~k<i>`` (beyond the newest headline) used to
    name a new entry each (and showed the first page's items without its pins)."""
    await ingest.apply(
        {
            "articles": [
                article("fp-pin", published_at="2024-10-24T09:00:00+03:00", pinned=True),
                article("fp-1", published_at="2024-10-24T10:00:00+03:00"),
                article("fp-2", published_at="2024-10-24T10:01:00+03:00"),
            ]
        }
    )
    newest = (await feed.timeline(limit=1))["next"]  # the first page's last (only) item
    score, _, newest_id = newest.partition("~")
    assert newest_id == "fp-2"
    first = await _settled(http, feed.base, "/v1/timeline?limit=200")
    page = await _settled(http, feed.base, "/")
    assert first.json()["pinned"][0]["id"] == "fp-pin"
    hits, misses = await _views(http, feed.base)
    beyond = [
        *(f"9999999999999~k{n}" for n in range(5)),
        f"{score}~zzz",  # the newest item's time, an id after its own: that item is shown
        f"{int(score) + 1}~a",
        f"00{int(score) + 1}~a",  # the same number written otherwise
    ]
    for cursor in beyond:
        response = await http.get(f"{feed.base}/v1/timeline?limit=200&before={cursor}")
        assert response.status_code == 200
        assert response.content == first.content, cursor  # the first page, its pins included
        assert response.headers["etag"] == first.headers["etag"]
    older = await http.get(f"{feed.base}/?before=9999999999999~k1")
    assert older.content == page.content  # the live page itself, live updates on
    assert await _views(http, feed.base) == (hits + len(beyond) + 1, misses)


async def test_cursors_past_the_oldest_item_share_one_empty_page(
    ingest: Ingest, feed: Feed, http: httpx.AsyncClient
) -> None:
    await ingest.apply(article("end-1", published_at="2024-10-24T10:00:00+03:00"))
    await _settled(http, feed.base, "/v1/timeline")
    past = await http.get(f"{feed.base}/v1/timeline?before=-5~a")
    assert past.json()["days"] == []
    assert past.json()["next"] is None
    hits, misses = await _views(http, feed.base)
    for cursor in ("-6~b", "1~end-0", "-99999~zz"):
        again = await http.get(f"{feed.base}/v1/timeline?before={cursor}")
        assert again.content == past.content, cursor
    assert await _views(http, feed.base) == (hits + 3, misses)


async def test_a_view_bigger_than_the_whole_bound_is_served_but_not_kept(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    """With ``LIVEFEED_VIEW_CACHE_BYTES`` at 32 KiB: a 60 KB view is served every time (from
    Redis), and it does not push out the small views that fit."""
    port = free_port()
    service = fresh.start_service(
        "feed",
        key="feed-small-cache",
        LIVEFEED_FEED_PORT=str(port),
        LIVEFEED_VIEW_CACHE_BYTES=str(32 * 1024),
    )
    try:
        fresh.wait_healthy("feed", port=port)
        base = f"http://127.0.0.1:{port}"
        await ingest.apply(
            {"articles": [article(f"wide-{n}", summary="s" * 1_000) for n in range(50)]}
        )
        small = await _settled(http, base, "/v1/timeline?limit=1")
        hits, misses = await _views(http, base)
        for _ in range(3):
            big = await http.get(f"{base}/v1/timeline?limit=50")
            assert big.status_code == 200
            assert len(big.content) > 50_000
        assert await _views(http, base) == (hits, misses + 3)  # rendered each time
        again = await http.get(f"{base}/v1/timeline?limit=1")
        assert again.content == small.content
        assert await _views(http, base) == (hits + 1, misses + 3)  # the small one stayed
        samples = await scrape(http, base)
        assert 0 < value(samples, "livefeed_feed_view_cache_bytes") <= 32 * 1024
    finally:
        service.stop()
