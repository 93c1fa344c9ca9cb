"""The live page in a real browser: what a reader of the "News" column sees and can do."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
from playwright.async_api import Browser, Page, Route, WebSocketRoute

from shared import keys
from shared.redis_server import EmbeddedRedis
from tests.conftest import STREAM_MAXLEN, short_tmpdir
from tests.feed.test_timeline import seed_articles
from tests.helpers import Ingest, article
from tests.procs import Stack
from tests.seedpage import read_column

pytestmark = pytest.mark.browser

ITEMS = "#timeline article.item"
DAYS_JS = """days => days.map(d => ({
    date: d.dataset.date,
    label: d.querySelector('h2').textContent,
    items: [...d.querySelectorAll('article.item')].map(a => ({
        id: a.dataset.id,
        time: a.querySelector('time').textContent,
        labels: [...a.querySelectorAll('.badge')].map(b => b.textContent),
        title: a.querySelector('.item-title').textContent,
    })),
}))"""


async def open_live(page: Page, url: str) -> None:
    """Open the page and wait until its stream is live."""
    await page.goto(url)
    await page.wait_for_selector("#conn[data-state=live]", timeout=10_000)


async def shown_ids(page: Page) -> list[str]:
    ids: list[str] = await page.eval_on_selector_all(ITEMS, "els => els.map(e => e.dataset.id)")
    return ids


async def days(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await page.eval_on_selector_all("section.day", DAYS_JS)
    return result


async def retract(ingest: Ingest, article_id: str) -> None:
    response = await ingest.client.delete(
        f"{ingest.base}/v1/articles/{article_id}", headers=ingest.auth
    )
    assert response.status_code == 202, response.text


async def test_first_page_reads_without_javascript_as_the_seed_page(
    browser: Browser, ingest: Ingest, fresh: Stack
) -> None:
    await ingest.apply({"articles": seed_articles()})
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    response = await page.goto(fresh.url("feed") + "/")
    assert response is not None
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert f"ws://127.0.0.1:{fresh.ports['push']}" in csp  # the page may reach the push service
    assert headers["x-content-type-options"] == "nosniff"

    got = await days(page)
    want = read_column()
    assert [
        (d["label"], [(i["time"], i["labels"], i["title"]) for i in d["items"]]) for d in got
    ] == [(d.label, [(i.time, i.labels, i.title) for i in d.items]) for d in want]
    assert got[0]["label"] == "2024, Thursday 24 October"
    first_time = page.locator(f"{ITEMS} time").first
    assert await first_time.get_attribute("datetime") == "2024-10-24T19:31:00+03:00"
    assert await first_time.get_attribute("title") == (
        "Thursday 24 October 2024, 19:31 (UTC+03:00, Europe/Kyiv)"
    )
    link = page.locator(f"{ITEMS} a.item-title").first
    assert await link.get_attribute("href") == seed_articles()[0]["url"]
    assert await page.locator("[role=feed] > article").count() == 40
    await context.close()


async def test_seed_posted_to_an_open_page_arrives_as_the_seed_page_shows_it(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await open_live(page, fresh.url("feed") + "/")
    assert await page.is_visible("#empty")
    await ingest.post({"articles": seed_articles()})
    await page.wait_for_function(
        "() => document.getElementById('live').shadowRoot"
        ".querySelectorAll('article.item').length === 40"
    )
    got = await days(page)  # built by the element alone, in arrival order
    assert [
        (d["label"], [(i["time"], i["labels"], i["title"]) for i in d["items"]]) for d in got
    ] == [(d.label, [(i.time, i.labels, i.title) for i in d.items]) for d in read_column()]
    assert not await page.is_visible("#empty")
    assert await page.locator("[role=feed] > article[aria-posinset='40']").count() == 1


async def test_new_headline_appears_at_the_top_within_a_second_then_updates_and_vanishes(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await ingest.apply({"articles": seed_articles()})
    await open_live(page, fresh.url("feed") + "/")

    posted = await ingest.post(
        article(
            "live-1", title="Parliament meets tonight", published_at="2024-10-24T20:05:00+03:00"
        )
    )
    assert posted.status_code == 202
    classes = await page.wait_for_function(
        """() => {
            const first = document.getElementById('live').shadowRoot
                .querySelector('#timeline article.item');
            return first && first.dataset.id === 'live-1' && first.className;
        }""",
        timeout=1_000,
    )
    assert "fresh" in await classes.json_value()  # the brief highlight
    top = (await days(page))[0]
    assert top["label"] == "2024, Thursday 24 October"
    # The whole time, built in the browser (Intl), reads as the server writes it.
    stamp = page.locator("[data-id='live-1'] time")
    assert await stamp.get_attribute("title") == (
        "Thursday 24 October 2024, 20:05 (UTC+03:00, Europe/Kyiv)"
    )
    assert top["items"][0] == {
        "id": "live-1",
        "time": "20:05",
        "labels": [],
        "title": "Parliament meets tonight",
    }

    await ingest.post(
        article(
            "live-1",
            title="Parliament meets tonight: vote at 22:00",
            published_at="2024-10-24T20:05:00+03:00",
            version=2,
        )
    )
    await page.wait_for_function(
        "() => document.getElementById('live').shadowRoot"
        ".querySelector('#timeline .item-title').textContent.endsWith('22:00')"
    )
    item = (await days(page))[0]["items"][0]
    assert (item["id"], item["labels"]) == ("live-1", ["Updated"])
    assert (await shown_ids(page)).count("live-1") == 1
    assert len(await shown_ids(page)) == 41

    await ingest.post(article("tomorrow", published_at="2024-10-25T08:00:00+03:00"))
    await page.wait_for_selector("section.day[data-date='2024-10-25']")
    assert [d["label"] for d in await days(page)][:2] == [
        "2024, Friday 25 October",
        "2024, Thursday 24 October",
    ]

    await retract(ingest, "live-1")
    await retract(ingest, "tomorrow")
    await page.wait_for_function(
        "() => !document.getElementById('live').shadowRoot"
        ".querySelector(\"[data-id='live-1'], [data-id='tomorrow']\")"
    )
    assert await page.locator("section.day[data-date='2024-10-25']").count() == 0
    assert len(await shown_ids(page)) == 40


async def test_markup_in_a_title_is_shown_as_text_and_runs_nothing(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await open_live(page, fresh.url("feed") + "/")
    # Entities are decoded once at ingest: the stored title is the literal text "<img ...>".
    hostile = "&lt;img src=x onerror=window.__pwned=1&gt; Breaking &lt;script&gt;x()&lt;/script&gt;"
    await ingest.apply(article("xss", title=hostile))
    expected = "<img src=x onerror=window.__pwned=1> Breaking <script>x()</script>"
    title = page.locator("[data-id='xss'] .item-title")
    await title.wait_for()
    assert await title.text_content() == expected
    for _ in range(2):
        assert await page.locator("#timeline img, #timeline script").count() == 0
        assert await page.evaluate("window.__pwned") is None
        await page.reload()  # the server-rendered copy too
        assert await title.text_content() == expected


async def test_more_news_loads_older_headlines_marked_busy_meanwhile(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    older = [
        article(f"old-{n}", published_at=f"2024-10-22T1{n}:00:00+03:00", labels=["Review"])
        for n in range(5)
    ]
    await ingest.apply({"articles": [*seed_articles(), *older]})
    await open_live(page, fresh.url("feed") + "/")
    assert len(await shown_ids(page)) == 40
    more = page.locator("#more")
    assert await more.is_visible()

    release = asyncio.Event()

    async def hold(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await page.route("**/v1/timeline?*", hold)
    await more.click()
    await page.wait_for_selector("#timeline[aria-busy=true]")
    release.set()
    await page.wait_for_selector("#timeline[aria-busy=false]")
    ids = await shown_ids(page)
    assert len(ids) == len(set(ids)) == 45
    assert ids[-5:] == [f"old-{n}" for n in range(4, -1, -1)]
    last_day = (await days(page))[-1]
    assert last_day["label"] == "2024, Tuesday 22 October"
    assert last_day["items"][0]["labels"] == ["Review"]
    assert not await more.is_visible()  # nothing older
    assert "older headlines loaded" in (await page.text_content("#status") or "")


async def test_a_scrolled_reader_gets_a_button_and_the_list_does_not_move(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await ingest.apply({"articles": seed_articles()})
    await page.set_viewport_size({"width": 1000, "height": 700})
    await open_live(page, fresh.url("feed") + "/")
    base_title = await page.title()
    await page.evaluate("window.scrollTo(0, 1500)")
    anchor = """() => {
        const a = [...document.getElementById('live').shadowRoot.querySelectorAll('article.item')]
            .find(e => e.getBoundingClientRect().top >= 0);  // the first one fully in view
        return [a.dataset.id, a.getBoundingClientRect().top, window.scrollY];
    }"""
    before = await page.evaluate(anchor)

    await ingest.apply(article("while-away", published_at="2024-10-24T21:00:00+03:00"))
    button = page.locator("#new-headlines")
    await button.wait_for(state="visible")
    assert await button.text_content() == "↑ 1 new headline"
    await page.wait_for_function(
        "() => document.getElementById('live').shadowRoot"
        ".getElementById('status').textContent.includes('1 new headline')"
    )
    assert await page.evaluate(anchor) == before  # same item, same place: nothing jumped
    assert "while-away" not in await shown_ids(page)
    assert await page.title() == f"(1) {base_title}"

    await button.click()
    assert (await shown_ids(page))[0] == "while-away"
    focused = await page.evaluate(
        "() => { const a = document.activeElement.shadowRoot.activeElement;"
        " return [a.dataset.id, a.getBoundingClientRect().top]; }"
    )
    assert focused[0] == "while-away"
    assert 0 <= focused[1] < 200  # taken to it
    assert not await button.is_visible()
    assert await page.title() == base_title


async def test_pause_holds_every_change_until_resume(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await ingest.apply({"articles": seed_articles()})
    await open_live(page, fresh.url("feed") + "/")
    pause = page.locator("#pause")
    await pause.click()
    assert await pause.get_attribute("aria-pressed") == "true"
    assert await page.get_attribute("#conn", "data-state") == "paused"
    assert await page.text_content("#status") == "Live updates paused."
    before = await days(page)

    await ingest.apply(article("held", published_at="2024-10-24T21:00:00+03:00"))
    await retract(ingest, "espreso:2024-10-24:1931")
    await page.wait_for_function(
        "() => document.getElementById('live').shadowRoot"
        ".getElementById('pause').textContent === 'Resume live updates (1 new)'"
    )
    await page.wait_for_function(
        "() => document.getElementById('live').shadowRoot"
        ".getElementById('status').textContent.includes('1 new headline (paused)')"
    )
    assert await days(page) == before  # nothing moved while paused

    await pause.click()
    assert await pause.get_attribute("aria-pressed") == "false"
    ids = await shown_ids(page)
    assert ids[0] == "held"
    assert "espreso:2024-10-24:1931" not in ids
    assert await page.get_attribute("#conn", "data-state") == "live"
    assert await pause.text_content() == "Pause live updates"


async def test_websocket_blocked_sse_carries_the_headlines(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    # A proxy that breaks WebSockets: every attempt is closed before any message.
    async def broken(ws: WebSocketRoute) -> None:
        await ws.close(code=1011, reason="proxy says no")

    await page.route_web_socket("**/v1/stream*", broken)
    await open_live(page, fresh.url("feed") + "/")
    assert await page.get_attribute("#conn", "data-transport") == "sse"
    await ingest.post(article("via-sse", title="Carried by SSE"))
    await page.wait_for_selector("[data-id='via-sse']", timeout=2_000)
    await ingest.post(article("via-sse", title="Carried by SSE, updated", version=2))
    await page.wait_for_function(
        "() => document.getElementById('live').shadowRoot"
        ".querySelector(\"[data-id='via-sse'] .item-title\")"
        ".textContent.endsWith('updated')"
    )
    assert (await shown_ids(page)) == ["via-sse"]


@pytest.fixture
def own_stack() -> Iterator[Stack]:
    """A stack on a Redis of its own, for tests that stop and restart its push service."""
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(redis_server.url, short_tmpdir()).start()
        try:
            yield stack
        finally:
            stack.stop()


async def refuse_sse(page: Page) -> None:
    """Fail every SSE request: the page can only come back through the push service."""

    async def refuse(route: Route) -> None:
        await route.fulfill(status=503, body="no SSE in this test")

    await page.route("**/v1/events*", refuse)


@pytest.mark.slow
async def test_push_restart_reconnects_since_the_last_event_none_lost_none_twice(
    page: Page, http: httpx.AsyncClient, own_stack: Stack
) -> None:
    stack = own_stack
    ingest = Ingest(stack, http)
    await ingest.apply(article("before", published_at="2024-10-24T10:00:00+03:00"))
    await refuse_sse(page)
    await open_live(page, stack.url("feed") + "/")
    assert await page.get_attribute("#conn", "data-transport") == "ws"

    stack.services["push"].stop()
    await page.wait_for_selector("#conn[data-state=reconnecting]")
    assert "Reconnecting" in (await page.text_content("#status") or "")
    down = [article(f"down-{n}", published_at=f"2024-10-24T11:0{n}:00+03:00") for n in range(3)]
    for item in down:
        await ingest.apply(item)
    await ingest.apply(article("before", title="Edited while down", version=5,
                               published_at="2024-10-24T10:00:00+03:00"))  # fmt: skip
    stack.start_service("push")
    stack.wait_healthy("push")

    await page.wait_for_selector("#conn[data-state=live]", timeout=40_000)
    await page.wait_for_selector("[data-id='down-2']")
    await ingest.apply(article("after", published_at="2024-10-24T12:00:00+03:00"))
    await page.wait_for_selector("[data-id='after']")
    assert await shown_ids(page) == ["after", "down-2", "down-1", "down-0", "before"]
    assert await page.text_content("[data-id='before'] .item-title") == "Edited while down"
    assert await page.get_attribute("#conn", "data-transport") == "ws"


@pytest.mark.slow
async def test_a_tab_coming_back_into_view_reconnects_at_once_not_after_its_backoff(
    page: Page, http: httpx.AsyncClient, own_stack: Stack
) -> None:
    stack = own_stack
    ingest = Ingest(stack, http)
    await refuse_sse(page)
    # The page's timers stand still: its backoff never ends, so only the
    # visibilitychange handler can bring it back.
    await page.clock.install()
    await open_live(page, stack.url("feed") + "/")
    await page.clock.pause_at(datetime.now(UTC) + timedelta(seconds=1))
    stack.services["push"].stop()
    await page.wait_for_selector("#conn[data-state=reconnecting]")
    await ingest.apply(article("while-hidden"))
    stack.start_service("push")
    stack.wait_healthy("push")
    assert await page.get_attribute("#conn", "data-state") == "reconnecting"

    await page.evaluate(
        """() => {
            const visible = { configurable: true, get: () => false };
            Object.defineProperty(document, "hidden", visible);
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    await page.wait_for_selector("#conn[data-state=live]")
    await page.wait_for_selector("[data-id='while-hidden']")
    assert await shown_ids(page) == ["while-hidden"]


async def test_readable_on_a_phone(page: Page, ingest: Ingest, fresh: Stack) -> None:
    await ingest.apply({"articles": seed_articles()})
    await page.set_viewport_size({"width": 360, "height": 740})
    await open_live(page, fresh.url("feed") + "/")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scroll
    boxes = await page.evaluate(
        """() => {
            const a = document.getElementById('live').shadowRoot
                .querySelector('#timeline article.item');
            const t = a.querySelector('time').getBoundingClientRect();
            const h = a.querySelector('.item-title').getBoundingClientRect();
            return [t.left, t.top, h.left, h.top, h.right];
        }"""
    )
    time_left, time_top, title_left, title_top, title_right = boxes
    assert time_left < title_left  # the time column beside the headline, as on the seed page
    assert abs(time_top - title_top) < 8
    assert title_right <= 360
    font_size = await page.evaluate(
        "parseFloat(getComputedStyle(document.getElementById('live').shadowRoot"
        ".querySelector('.item-title')).fontSize)"
    )
    assert font_size >= 15


async def test_offline_then_online_is_shown_and_announced(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await open_live(page, fresh.url("feed") + "/")
    await page.context.set_offline(True)
    await page.wait_for_selector("#conn[data-state=offline]")
    assert (await page.text_content("#status") or "").startswith("Offline.")
    assert await page.text_content("#conn .conn-text") == "Offline"
    await page.context.set_offline(False)
    await page.wait_for_selector("#conn[data-state=live]")
    await ingest.apply(article("back-online"))
    await page.wait_for_selector("[data-id='back-online']")
    assert await shown_ids(page) == ["back-online"]


async def test_reset_reloads_the_timeline_when_the_log_no_longer_reaches_back(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await ingest.apply({"articles": [article(f"n-{n:03d}") for n in range(STREAM_MAXLEN + 20)]})
    await ingest.apply(article("newest", published_at="2024-10-24T18:00:00+03:00"))

    # A page whose event id is older than anything the log still keeps (a tab left open for
    # days): the stream answers "reset" and the page must reload the timeline to stay right.
    # (Rewritten in the browser as the page is parsed, before the column's module runs: a response
    # fulfilled by the test would have no address, and Chromium's local-network checks would
    # then keep it from reaching the push service on another loopback port.)
    await page.add_init_script(
        """document.addEventListener("readystatechange", () => {
            const live = document.getElementById("live");
            if (document.readyState === "interactive" && live) live.dataset.eventId = "1-0";
        });"""
    )
    reloads: list[str] = []  # the column reloads as it loads: one fresh fragment
    page.on("request", lambda r: reloads.append(r.url) if "/v1/fragment" in r.url else None)
    await page.goto(fresh.url("feed") + "/")
    timeline = (await ingest.client.get(f"{fresh.url('feed')}/v1/timeline")).json()
    await page.wait_for_function(
        "id => document.getElementById('live').dataset.lastEventId === id",
        arg=timeline["event_id"],
    )
    await page.wait_for_selector("#conn[data-state=live]")
    assert len(reloads) == 1  # the page fetched a fresh column after the reset
    ids = await shown_ids(page)
    assert ids[0] == "newest"
    assert len(ids) == len(set(ids)) == 40
    await ingest.apply(article("after-reset", published_at="2024-10-24T19:00:00+03:00"))
    await page.wait_for_selector("[data-id='after-reset']")
    assert (await shown_ids(page))[:2] == ["after-reset", "newest"]


async def test_a_filtered_page_drops_an_article_that_leaves_its_filter(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await ingest.apply(article("keep", labels=["Exclusive"]))
    await ingest.apply(
        article("goes", labels=["Exclusive"], published_at="2024-10-24T17:00:00+03:00")
    )
    await open_live(page, fresh.url("feed") + "/?label=exclusive")
    assert await shown_ids(page) == ["goes", "keep"]
    # An update drops the label: the filtered timeline no longer has it, nor does the page.
    await ingest.apply(article("goes", version=2, published_at="2024-10-24T17:00:00+03:00"))
    await page.wait_for_function(
        "() => !document.getElementById('live').shadowRoot.querySelector(\"[data-id='goes']\")"
    )
    assert await shown_ids(page) == ["keep"]
    # And back in: it reappears at its place.
    await ingest.apply(
        article("goes", version=3, labels=["exclusive"], published_at="2024-10-24T17:00:00+03:00")
    )
    await page.wait_for_selector("[data-id='goes']")
    assert await shown_ids(page) == ["goes", "keep"]


async def test_a_change_delivered_twice_after_a_failover_counts_once(
    page: Page, ingest: Ingest, fresh: Stack, redis_client: redis.Redis
) -> None:
    """At least once: a job re-run on a promoted replica appends the same change again, under a
    new event id (docs/reliability.md). The reader's counts and announcements see it once."""
    await ingest.apply(article("before", published_at="2024-10-24T20:00:00+03:00"))
    await open_live(page, fresh.url("feed") + "/")
    pause = page.locator("#pause")
    await pause.click()
    await ingest.apply(article("twice", published_at="2024-10-24T21:00:00+03:00"))
    [(_, fields)] = redis_client.xrevrange(keys.EVENTS, count=1)
    again = redis_client.xadd(keys.EVENTS, fields).decode()  # what the re-run apply appends
    await page.wait_for_function(
        "id => document.getElementById('live').dataset.lastEventId === id",
        arg=again,
    )
    assert await pause.text_content() == "Resume live updates (1 new)"
    assert (await page.title()).startswith("(1) ")
    await pause.click()
    assert await page.text_content("#status") == "Live updates resumed: 1 change."
    assert await shown_ids(page) == ["twice", "before"]


# -- reading comfort: 320 px, one Tab stop per headline, right-to-left, dark -------------------

# Every visible control (buttons, links, disclosure summaries) in the document and the column's
# shadow root that overflows its box or wraps onto a second line (a word broken or a label cut).
OVERFLOWING_CONTROLS_JS = """() => {
    const roots = [document, document.getElementById('live').shadowRoot];
    const out = [];
    for (const root of roots) {
        for (const c of root.querySelectorAll('button, a, summary')) {
            const box = c.getBoundingClientRect();
            if (!box.width || c.closest('[hidden]') || c.classList.contains('skip')) continue;
            const style = getComputedStyle(c);
            const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
            const pad = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom)
                + parseFloat(style.borderTopWidth) + parseFloat(style.borderBottomWidth);
            const lines = Math.round((box.height - pad) / line);
            const isTitle = c.classList.contains('item-title');  // headlines wrap, as text
            if (c.scrollWidth > c.clientWidth + 1 || box.right > innerWidth + 0.5 || box.left < 0
                || (!isTitle && c.tagName !== 'A' && lines > 1)) {
                out.push([c.textContent.trim(), c.scrollWidth, c.clientWidth, box.left,
                    box.right, lines]);
            }
        }
    }
    return out;
}"""


async def test_every_control_fits_a_320_px_screen_unbroken(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await ingest.apply({"articles": seed_articles()})
    await page.set_viewport_size({"width": 320, "height": 640})
    await open_live(page, fresh.url("feed") + "/")
    # The longest label the controls take: paused, with headlines waiting.
    await page.locator("#pause").click()
    await ingest.apply(article("waiting", published_at="2024-10-24T21:00:00+03:00"))
    await page.wait_for_function(
        "() => document.getElementById('live').shadowRoot.getElementById('pause')"
        ".textContent.includes('1 new')"
    )
    assert await page.evaluate("document.documentElement.scrollWidth") <= 320
    host = await page.eval_on_selector("#live", "c => [c.scrollWidth, c.clientWidth]")
    assert host[0] <= host[1]  # the column has no sideways overflow
    column = await page.eval_on_selector(
        "#live", "c => { const k = c.shadowRoot.querySelector('.column');"
        " return [k.scrollWidth, k.clientWidth]; }"
    )  # fmt: skip
    assert column[0] <= column[1]
    assert await page.evaluate(OVERFLOWING_CONTROLS_JS) == []


SITE = "https://example.com"


async def focus_path(page: Page, presses: int) -> list[str]:
    """What each Tab press focuses: ``a:<title id>``, ``article:<id>``, ``menu:<id>`` (a
    headline's menu button) or the element's tag."""
    stops: list[str] = []
    for _ in range(presses):
        await page.keyboard.press("Tab")
        stops.append(
            await page.evaluate(
                """() => {
                    let e = document.activeElement;
                    while (e && e.shadowRoot && e.shadowRoot.activeElement) {
                        e = e.shadowRoot.activeElement;
                    }
                    if (e.tagName === 'ARTICLE') return 'article:' + e.dataset.id;
                    if (e.classList.contains('item-title')) return 'a:' + e.id;
                    const art = e.closest('article');
                    if (e.classList.contains('item-more')) return 'menu:' + art.dataset.id;
                    return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '');
                }"""
            )
        )
    return stops


async def test_one_tab_stop_per_headline_its_link_or_else_the_article_then_its_menu(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await ingest.apply(
        {
            "articles": [
                article("t1", url=f"{SITE}/1", published_at="2024-10-24T10:00:00+03:00"),
                article("t2", published_at="2024-10-24T11:00:00+03:00"),  # no link
                article("t3", url=f"{SITE}/3", published_at="2024-10-24T12:00:00+03:00"),
            ]
        }
    )  # fmt: skip
    await open_live(page, fresh.url("feed") + "/")
    stops = await focus_path(page, 11)
    headlines = [s for s in stops if s.startswith(("a:t-", "article:", "menu:"))]
    # Each once, in reading order, then its menu (Copy link / Share: its time is no Tab stop).
    assert headlines == ["a:t-t3", "menu:t3", "article:t2", "menu:t2", "a:t-t1", "menu:t1"]
    assert stops[0] == "a"  # "Skip to headlines" comes first
    # A headline that arrives live is built the same way.
    await ingest.apply(
        article("t4", url="https://example.com/4", published_at="2024-10-24T13:00:00+03:00")
    )
    await page.wait_for_selector("#timeline [data-id=t4]")
    await page.evaluate("() => document.activeElement && document.activeElement.blur()")
    await page.locator("#pause").focus()
    stops = await focus_path(page, 6)
    headlines = [s for s in stops if s.startswith(("a:t-", "article:"))]
    assert headlines[:2] == ["a:t-t4", "a:t-t3"]


async def test_the_column_mirrors_right_to_left_and_titles_keep_their_own_direction(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    arabic = "قمة السلام في كييف"
    await ingest.apply(
        {
            "articles": [
                article("ar", title=arabic, url="https://example.com/ar",
                        published_at="2024-10-24T10:00:00+03:00"),
                article("en", url="https://example.com/en", pinned=True,
                        published_at="2024-10-24T11:00:00+03:00"),
            ]
        }
    )  # fmt: skip
    await page.set_viewport_size({"width": 800, "height": 700})
    await open_live(page, fresh.url("feed") + "/")
    # A right-to-left title in a left-to-right column takes its own direction (dir=auto).
    assert await page.locator("#timeline [data-id=ar] .item-title").get_attribute("dir") == "auto"
    direction = (
        "c => getComputedStyle(c.shadowRoot.querySelector('[data-id=ar] .item-title')).direction"
    )
    assert await page.eval_on_selector("#live", direction) == "rtl"
    await ingest.apply(article("ar2", title=arabic, published_at="2024-10-24T12:00:00+03:00"))
    await page.wait_for_selector("#timeline [data-id=ar2]")
    assert await page.locator("[data-id=ar2] .item-title").get_attribute("dir") == "auto"

    # The whole column right to left (what a right-to-left language's blob says).
    assert await page.get_attribute("html", "dir") == "ltr"
    assert await page.get_attribute("#live", "dir") == "ltr"
    await page.evaluate(
        "() => { document.documentElement.dir = 'rtl'; const c = document.getElementById('live');"
        " c.dir = 'rtl'; c.shadowRoot.querySelector('.column').dir = 'rtl'; }"
    )  # fmt: skip
    boxes = await page.eval_on_selector(
        "#live",
        """c => {
            const r = c.shadowRoot, box = (s) => r.querySelector(s).getBoundingClientRect();
            const t = box('#timeline [data-id=ar] time');
            const h = box('#timeline [data-id=ar] .item-title');
            const title = box('.column-title'), controls = box('.controls');
            const pinned = getComputedStyle(r.querySelector('section.pinned'));
            const skip = getComputedStyle(document.querySelector('.skip'));
            return {timeLeft: t.left, titleRight: h.right, headTitle: title.left,
                controlsRight: controls.right, pinRight: pinned.borderRightWidth,
                pinLeft: pinned.borderLeftWidth, badge: box('.pinned .badge').left,
                pinnedTitle: box('.pinned .item-title').left, skipRight: skip.right};
        }""",
    )
    assert boxes["timeLeft"] >= boxes["titleRight"]  # the time column is on the right
    assert boxes["headTitle"] >= boxes["controlsRight"]  # the title on the right, controls left
    assert (boxes["pinRight"], boxes["pinLeft"]) == ("4px", "0px")  # the pinned rule mirrors
    assert boxes["badge"] > boxes["pinnedTitle"]  # the badge comes first, on the right
    assert boxes["skipRight"] == "8px"
    await page.screenshot(path=str(fresh.workdir / "rtl.png"))
    print(f"\nright-to-left screenshot: {fresh.workdir / 'rtl.png'}")
