"""Edge caches keep every view for an hour and lose it within 2 s of the change that stales it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.edge.conftest import Edge
from tests.helpers import Ingest, article, eventually, key_of, subscribe

pytestmark = pytest.mark.slow

TRIALS = 20
PURGE_DEADLINE_S = 2.0


def views(article_id: str) -> list[str]:
    """The cached views a news article shows in."""
    return ["/", "/v1/timeline", "/v1/fragment", "/feed.rss", f"/v1/articles/{article_id}"]


async def warm(http: httpx.AsyncClient, edge: Edge, path: str, text: str) -> None:
    """Until Varnish serves ``path`` from its cache, showing ``text``."""

    async def cached() -> bool:
        response = await http.get(edge.varnish.url + path)
        return response.headers.get("x-cache") == "HIT" and text in response.text

    await eventually(cached, 10, f"{path} cached by Varnish with {text!r}")


async def p99_s(durations: list[float]) -> float:
    ordered = sorted(durations)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def test_a_retraction_leaves_every_cached_view_within_2_s(
    edge: Edge, http: httpx.AsyncClient
) -> None:
    ingest = Ingest(edge.stack, http)
    took: list[float] = []
    for n in range(TRIALS):
        article_id, title = f"gone-{n}", f"Doomed headline {n}"
        await ingest.apply({"articles": [article(article_id, title=title, section="news")]})
        for path in views(article_id):
            await warm(http, edge, path, title)
        started = time.monotonic()
        response = await http.delete(f"{ingest.base}/v1/articles/{article_id}", headers=ingest.auth)
        assert response.status_code == 202, response.text

        async def gone(article_id: str = article_id, title: str = title) -> bool:
            for path in views(article_id):
                response = await http.get(edge.varnish.url + path)
                if path.startswith("/v1/articles/"):
                    if response.status_code != 404:
                        return False
                elif title in response.text:
                    return False
            return True

        await eventually(gone, 10, f"{article_id} purged from every view", interval=0.01)
        took.append(time.monotonic() - started)
    print(f"retraction gone from the edge: p50 {sorted(took)[len(took) // 2]:.3f} s, "
          f"max {max(took):.3f} s over {TRIALS}")  # fmt: skip
    assert await p99_s(took) <= PURGE_DEADLINE_S, took


async def test_an_update_replaces_the_cached_title_within_2_s(
    edge: Edge, http: httpx.AsyncClient
) -> None:
    ingest = Ingest(edge.stack, http)
    await ingest.apply({"articles": [article("edit-1", title="First wording", version=1)]})
    for path in views("edit-1"):
        await warm(http, edge, path, "First wording")
    started = time.monotonic()
    await ingest.post({"articles": [article("edit-1", title="Second wording", version=2)]})
    for path in views("edit-1"):

        async def updated(path: str = path) -> bool:
            text = (await http.get(edge.varnish.url + path)).text
            return "Second wording" in text and "First wording" not in text

        await eventually(updated, PURGE_DEADLINE_S, f"{path} shows the new title", interval=0.01)
    assert time.monotonic() - started <= PURGE_DEADLINE_S


async def test_other_sections_stay_cached(edge: Edge, http: httpx.AsyncClient) -> None:
    ingest = Ingest(edge.stack, http)
    await ingest.apply(
        {
            "articles": [
                article("sport-1", title="Cup final tonight", section="sport"),
                article("news-0", title="Council meets", section="news"),
            ]
        }
    )
    sport = ["/?section=sport", "/v1/timeline?section=sport", "/v1/fragment?section=sport"]
    for path in sport:
        await warm(http, edge, path, "Cup final tonight")
    ages = {path: int((await http.get(edge.varnish.url + path)).headers["age"]) for path in sport}

    await ingest.apply({"articles": [article("news-1", title="Budget passed", section="news")]})
    await warm(http, edge, "/v1/timeline?section=news", "Budget passed")
    await warm(http, edge, "/v1/timeline", "Budget passed")

    for path in sport:
        response = await http.get(edge.varnish.url + path)
        assert response.headers["x-cache"] == "HIT", f"{path} was purged by a news change"
        assert int(response.headers["age"]) >= ages[path]
        assert "Budget passed" not in response.text


async def test_the_webhook_gets_the_keys_of_each_kind_of_change(
    edge: Edge, http: httpx.AsyncClient
) -> None:
    ingest = Ingest(edge.stack, http)
    hook = edge.webhook

    async def keys_arrive(expected: set[str], what: str) -> None:
        await eventually(lambda: _async(expected <= hook.all_keys()), 5, what)
        assert all(set(body) == {"surrogate_keys", "event_id"} for body in hook.received)

    hook.clear()
    await ingest.apply(
        {"articles": [article("hook-1", section="politics", labels=["Exclusive"], version=1)]}
    )
    await keys_arrive(
        {"timeline", key_of("hook-1"), "section:politics", "label:exclusive"}, "publish keys"
    )

    hook.clear()  # moved to another section, label dropped: both old and new views are stale
    await ingest.apply({"articles": [article("hook-1", section="world", version=2)]})
    await keys_arrive(
        {"timeline", key_of("hook-1"), "section:politics", "section:world", "label:exclusive"},
        "filter change keys",
    )

    hook.clear()
    response = await http.delete(f"{ingest.base}/v1/articles/hook-1", headers=ingest.auth)
    assert response.status_code == 202
    await keys_arrive({"timeline", key_of("hook-1"), "section:world"}, "retraction keys")

    hook.clear()
    release = datetime.now(UTC) + timedelta(seconds=1.5)
    await ingest.apply(
        {"articles": [article("hook-2", section="economy", embargoed_until=release.isoformat())]}
    )
    assert key_of("hook-2") not in hook.all_keys()  # nothing public changed yet
    await keys_arrive({"timeline", key_of("hook-2"), "section:economy"}, "embargo release keys")


async def test_a_backend_that_is_down_is_retried_and_slows_nothing(
    edge: Edge, http: httpx.AsyncClient
) -> None:
    ingest = Ingest(edge.stack, http)
    hook = edge.webhook
    failures_before = await _metric(http, edge, "livefeed_purge_failures_total", hook.url)
    hook.status = 503
    try:
        async with subscribe(edge.stack.ws_url) as stream:
            assert (await stream.next())["type"] == "hello"
            started = time.monotonic()
            await ingest.apply({"articles": [article("down-1", title="Posted while down")]})
            pushed = await stream.next(timeout=5)
            assert pushed["headline"]["id"] == "down-1"
            assert time.monotonic() - started < 2  # posting and pushing did not wait
        # Varnish, the other backend, still purged at once.
        await warm(http, edge, "/v1/timeline", "Posted while down")

        async def retried() -> bool:
            failures = await _metric(http, edge, "livefeed_purge_failures_total", hook.url)
            return hook.refused >= 2 and failures >= failures_before + 2

        await eventually(retried, 10, "the failing webhook retried and counted")
        assert key_of("down-1") not in hook.all_keys()
    finally:
        hook.status = 200
    await eventually(
        lambda: _async(key_of("down-1") in hook.all_keys()),
        15,
        "the purge delivered once it is back",
    )


async def _async(value: bool) -> bool:
    return value


async def _metric(http: httpx.AsyncClient, edge: Edge, name: str, backend: str) -> float:
    text = (await http.get(edge.purger_metrics)).text
    for line in text.splitlines():
        if line.startswith(f'{name}{{backend="{backend}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_the_purger_pings_websub_hubs_for_the_feeds_a_change_touched(
    edge: Edge, http: httpx.AsyncClient
) -> None:
    ingest = Ingest(edge.stack, http)
    feed = (await http.get(f"{edge.stack.url('feed')}/feed.atom?section=culture")).text
    assert f'href="{edge.hub.url}"' in feed  # the feed names the hub it pings
    started = time.monotonic()
    await ingest.apply({"articles": [article("sub-1", section="culture")]})

    async def pinged() -> bool:
        urls = {url for form in edge.hub.forms for url in form.get("hub.url", [])}
        return {
            "https://news.example/feed.atom",
            "https://news.example/feed.atom?section=culture",
        } <= urls

    await eventually(pinged, 2, "WebSub pings for the unfiltered and the section feed")
    assert all(form["hub.mode"] == ["publish"] for form in edge.hub.forms)
    assert time.monotonic() - started < 2
