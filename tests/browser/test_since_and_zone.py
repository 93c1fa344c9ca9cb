"""A returning reader and a reader elsewhere (issue 27): "5 new since 16:55" above the first
headline they have not seen, and the newsroom's zone stated once with a toggle to their own.

The page ``/`` runs on the session's stack (the newsroom in Kyiv, the default zone); the
embedded column, ``/embed`` and the time-zone toggle on a stack of this module's own with
``LIVEFEED_TIMEZONE=UTC``, read by a browser in UTC+2 (``Etc/GMT-2``: no summer time).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis
from playwright.async_api import Browser, BrowserContext, Page

from services.feed.zones import zone_text
from shared.redis_server import EmbeddedRedis
from shared.settings import Settings
from tests.browser.embedhost import HOST_CSS, Host, article_page
from tests.browser.test_embed import axe_violations
from tests.conftest import short_tmpdir
from tests.helpers import Ingest, article, empty_store
from tests.procs import Stack

pytestmark = pytest.mark.browser

KYIV = ZoneInfo("Europe/Kyiv")
SINCE_KEY = "livefeed.since|"
ORDER_JS = """root => [...root.querySelectorAll('#timeline article.item')]
    .flatMap(a => a.querySelector('.since') ? ['SINCE', a.dataset.id] : [a.dataset.id])"""
DAYS_JS = """root => [...root.querySelectorAll('#timeline section.day')].map(d => [d.dataset.date,
    [...d.querySelectorAll('article.item')].map(a => [a.dataset.id,
        a.querySelector('.item-time').textContent])])"""
HOST_PAGE_CSS = HOST_CSS + ".below { min-height: 150vh }\n"


def root_of(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)}).shadowRoot"


async def in_root(page: Page, selector: str, script: str) -> Any:
    """``script`` (a function of the column's shadow root) run on the column at ``selector``."""
    return await page.evaluate(f"({script})({root_of(selector)})")


async def since_record(context: BrowserContext, origin: str) -> dict[str, Any]:
    """The column's stored last visit, from the browser's own storage for ``origin``."""
    state = await context.storage_state()
    for entry in state["origins"]:
        if entry["origin"] == origin:
            for item in entry["localStorage"]:
                if item["name"].startswith(SINCE_KEY):
                    record: dict[str, Any] = json.loads(item["value"])
                    return record
    raise AssertionError(f"nothing remembered for {origin}: {state['origins']}")


def clock(at_ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(zone).strftime("%H:%M")


def headlines(prefix: str, count: int, hour: int, **fields: Any) -> list[dict[str, Any]]:
    """``count`` headlines a minute apart from ``hour``:00 Kyiv time on 24 October 2024."""
    return [
        article(f"{prefix}{i}", published_at=f"2024-10-24T{hour:02d}:{i:02d}:00+03:00", **fields)
        for i in range(1, count + 1)
    ]


async def live_page(page: Page, url: str) -> None:
    await page.goto(url)
    await page.wait_for_selector("#conn[data-state=live]", timeout=10_000)


# -- "N new since HH:MM" on the live page ------------------------------------------------------


async def test_a_returning_reader_sees_five_new_since_their_visit_above_the_first_of_them(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    feed = fresh.url("feed")
    await ingest.apply({"articles": headlines("old", 6, 10)})
    await live_page(page, feed + "/")
    # First visit: no divider, and the newest headline shown is remembered (nothing sent).
    assert await page.locator("#live .since").count() == 0
    first = await since_record(page.context, feed)
    assert (first["t"], first["id"]) == (
        int(datetime(2024, 10, 24, 10, 6, tzinfo=KYIV).timestamp() * 1000),
        "old6",
    )
    await page.goto("about:blank")  # leave
    left = await since_record(page.context, feed)
    assert left["at"] >= first["at"]

    await ingest.apply({"articles": headlines("new", 5, 12)})
    await live_page(page, feed + "/")  # come back
    divider = page.locator("#live .since")
    expected = f"5 new since {clock(left['at'], KYIV)}"
    await divider.wait_for()
    assert await divider.text_content() == expected
    assert await divider.get_attribute("role") == "separator"
    assert await divider.get_attribute("aria-label") == expected
    assert await in_root(page, "#live", ORDER_JS) == [
        "SINCE", "new5", "new4", "new3", "new2", "new1", "old6", "old5", "old4", "old3", "old2",
        "old1",
    ]  # fmt: skip
    assert await page.locator("#live [role=status]").text_content() == expected

    # A headline that arrives during the visit is no "new since your last visit": above it.
    during = article("during", published_at="2024-10-24T13:00:00+03:00")
    assert (await ingest.post(during)).status_code == 202
    await page.locator("#live [data-id=during]").wait_for()
    assert (await in_root(page, "#live", ORDER_JS))[:3] == ["during", "SINCE", "new5"]
    assert await divider.text_content() == expected

    # Seen (in view a few seconds): it clears; the next visit has nothing new.
    await divider.wait_for(state="detached", timeout=10_000)
    await page.reload()
    await page.wait_for_selector("#conn[data-state=live]")
    assert await page.locator("#live article.item").count() == 12
    assert await page.locator("#live .since").count() == 0


async def test_the_divider_counts_in_ukrainian_with_the_few_form(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    feed = fresh.url("feed")
    await ingest.apply({"articles": headlines("uk-old", 4, 9, language="uk")})
    await live_page(page, feed + "/?lang=uk")
    await page.goto("about:blank")
    left = await since_record(page.context, feed)
    await ingest.apply({"articles": headlines("uk-new", 3, 11, language="uk")})
    await live_page(page, feed + "/?lang=uk")
    divider = page.locator("#live .since")
    await divider.wait_for()
    # Ukrainian has one/few/many: 3 takes "few" (нові заголовки), not "many" (нових заголовків).
    assert await divider.text_content() == f"3 нові заголовки з {clock(left['at'], KYIV)}"
    assert await in_root(page, "#live", ORDER_JS) == [
        "SINCE", "uk-new3", "uk-new2", "uk-new1", "uk-old4", "uk-old3", "uk-old2", "uk-old1",
    ]  # fmt: skip


async def test_storage_that_fails_or_holds_garbage_shows_no_divider_and_breaks_nothing(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    feed = fresh.url("feed")
    await ingest.apply({"articles": headlines("a", 3, 10)})
    await page.goto(feed + "/")
    await page.evaluate(
        "() => { for (const k of Object.keys(localStorage)) localStorage.setItem(k, '{not json'); }"
    )
    await live_page(page, feed + "/")
    assert await page.locator("#live .since").count() == 0
    assert (await since_record(page.context, feed))["id"] == "a3"  # written anew
    # A browser that refuses storage (every call throws): the column works, remembers nothing.
    await page.add_init_script(
        "Object.defineProperty(window, 'localStorage', { get() { throw new DOMException("
        "'denied', 'SecurityError'); } });"
    )
    await live_page(page, feed + "/")
    assert await page.locator("#live article.item").count() == 3
    assert await page.locator("#live .since").count() == 0


async def test_the_zone_note_names_the_newsroom_s_zone_in_the_column_s_language(
    page: Page, ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    feed = fresh.url("feed")
    await ingest.apply({"articles": headlines("z", 2, 10)})
    settings = Settings(timezone="Europe/Kyiv")
    for lang, words in (("en", "All times Kyiv, "), ("uk", "Час: Київ, "),
                        ("ar", "جميع الأوقات بتوقيت كييف، ")):  # fmt: skip
        url = feed + "/" + (f"?lang={lang}" if lang != "en" else "")
        html = (await http.get(url)).text
        expected = zone_text(settings, lang)
        assert expected.startswith(words)
        assert f'<span class="zone-text">{expected}</span>' in html  # without JavaScript too
        await live_page(page, url)
        note = page.locator("#live .zone-text")
        assert await note.text_content() == expected  # Intl on the client writes the same
    assert await page.locator("#live .zone-note").count() == 1  # said once


# -- the reader's own zone: a stack in UTC, a reader in UTC+2 ----------------------------------


class UtcSite:
    def __init__(self, stack: Stack, client: redis.Redis, host: Host) -> None:
        self.stack, self.redis, self.host = stack, client, host

    @property
    def feed(self) -> str:
        return self.stack.url("feed")


@pytest.fixture(scope="module")
def utc_site() -> Iterator[UtcSite]:
    host = Host().start()
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(
            redis_server.url,
            short_tmpdir(),
            extra_env={
                "LIVEFEED_TIMEZONE": "UTC",
                "LIVEFEED_EMBED_ORIGINS": host.origin,
                "LIVEFEED_INGEST_RATE_LIMIT": "1000000",
            },
        ).start()
        client = redis.Redis.from_url(redis_server.url)
        try:
            yield UtcSite(stack, client, host)
        finally:
            client.close()
            stack.stop()
            host.stop()


@pytest.fixture
async def utc(utc_site: UtcSite, http: httpx.AsyncClient) -> tuple[UtcSite, Ingest]:
    empty_store(utc_site.redis)
    utc_site.host.pages.clear()
    utc_site.host.files = {"/host.css": ("text/css", HOST_PAGE_CSS)}
    return utc_site, Ingest(utc_site.stack, http)


@pytest.fixture
async def reader(browser: Browser) -> AsyncIterator[Page]:
    """A reader in UTC+2 all year (``Etc/GMT-2``), failing the test on a page error."""
    context = await browser.new_context(
        viewport={"width": 390, "height": 800}, timezone_id="Etc/GMT-2"
    )
    context.set_default_timeout(10_000)
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    await context.close()
    assert not errors, errors


ZONE_ARTICLES = [
    article("late", published_at="2024-10-24T23:30:00Z"),
    article("evening", published_at="2024-10-24T20:00:00Z"),
    article("older", published_at="2024-10-23T23:10:00Z"),
]


async def test_the_toggle_moves_a_23_30_utc_headline_to_the_next_day_and_stays_chosen(
    reader: Page, utc: tuple[UtcSite, Ingest]
) -> None:
    site, ingest = utc
    await ingest.apply({"articles": ZONE_ARTICLES})
    await live_page(reader, site.feed + "/")
    toggle = reader.locator("#live .zone-toggle")
    assert await reader.locator("#live .zone-text").text_content() == "All times UTC"
    assert await toggle.text_content() == "My time zone (UTC+2)"
    assert await toggle.get_attribute("aria-pressed") == "false"
    newsroom = [
        ["2024-10-24", [["late", "23:30"], ["evening", "20:00"]]],
        ["2024-10-23", [["older", "23:10"]]],
    ]
    assert await in_root(reader, "#live", DAYS_JS) == newsroom

    await toggle.click()
    mine = [
        ["2024-10-25", [["late", "01:30"]]],
        ["2024-10-24", [["evening", "22:00"], ["older", "01:10"]]],
    ]
    assert await in_root(reader, "#live", DAYS_JS) == mine
    assert await toggle.get_attribute("aria-pressed") == "true"
    assert (
        await reader.locator("#live .zone-text").text_content()
        == "All times in your time zone, UTC+2"
    )
    heads = await reader.locator("#live section.day .day-date").all_text_contents()
    assert heads == ["25 October", "24 October"]
    title = await reader.locator("#live [data-id=late] time").get_attribute("title")
    assert title == "Friday 25 October 2024, 01:30 (UTC+02:00, Etc/GMT-2)"

    # Remembered: after a reload the column comes up in the reader's zone.
    await reader.reload()
    await reader.wait_for_selector("#conn[data-state=live]")
    assert await toggle.get_attribute("aria-pressed") == "true"
    assert await in_root(reader, "#live", DAYS_JS) == mine
    # A headline arriving live lands under the reader's day, at the reader's time.
    live = article("live", published_at="2024-10-24T22:45:00Z")
    assert (await ingest.post(live)).status_code == 202
    await reader.locator("#live [data-id=live]").wait_for()
    assert (await in_root(reader, "#live", DAYS_JS))[0] == [
        "2024-10-25", [["late", "01:30"], ["live", "00:45"]]
    ]  # fmt: skip

    # Back to the newsroom's view.
    await toggle.click()
    assert await in_root(reader, "#live", DAYS_JS) == [
        ["2024-10-24", [["late", "23:30"], ["live", "22:45"], ["evening", "20:00"]]],
        ["2024-10-23", [["older", "23:10"]]],
    ]
    assert await reader.locator("#live .zone-text").text_content() == "All times UTC"
    await reader.reload()
    await reader.wait_for_selector("#conn[data-state=live]")
    assert await toggle.get_attribute("aria-pressed") == "false"


async def test_an_embedded_column_follows_the_reader_s_zone_through_more_news(
    reader: Page, utc: tuple[UtcSite, Ingest]
) -> None:
    site, ingest = utc
    await ingest.apply({"articles": ZONE_ARTICLES})
    site.host.pages["/a"] = article_page(
        f'<script type="module" src="{site.feed}/embed.js"></script>',
        '<livefeed-teaser limit="2" href="/live"></livefeed-teaser>'
        '<aside aria-label="News"><livefeed-column limit="2"></livefeed-column></aside>',
    )
    await reader.goto(site.host.origin + "/a")
    column = "livefeed-column"
    await reader.wait_for_selector(f"{column} .conn[data-state=live]")
    teaser_times = "livefeed-teaser li.item time"  # (".item time" would find the column's too)
    await reader.locator(teaser_times).first.wait_for()
    assert await reader.locator(teaser_times).all_text_contents() == ["23:30", "20:00"]
    await reader.locator(f"{column} .zone-toggle").click()
    assert await in_root(reader, column, DAYS_JS) == [
        ["2024-10-25", [["late", "01:30"]]],
        ["2024-10-24", [["evening", "22:00"]]],
    ]
    # The teaser on the page switches with the column, and keeps the choice after a reload.
    assert await reader.locator(teaser_times).all_text_contents() == ["01:30", "22:00"]
    await reader.reload()
    await reader.wait_for_selector(f"{column} .conn[data-state=live]")
    await reader.locator(teaser_times).first.wait_for()
    assert await reader.locator(teaser_times).all_text_contents() == ["01:30", "22:00"]
    await reader.locator(f"{column} .more").click()  # the next page, placed in the reader's zone
    await reader.locator(f"{column} [data-id=older]").wait_for()
    assert await in_root(reader, column, DAYS_JS) == [
        ["2024-10-25", [["late", "01:30"]]],
        ["2024-10-24", [["evening", "22:00"], ["older", "01:10"]]],
    ]
    # The iframe page remembers the choice on the feed's own origin.
    await reader.goto(site.feed + "/embed")
    await reader.wait_for_selector(f"{column} .conn[data-state=live]")
    assert await reader.locator(f"{column} .zone-toggle").get_attribute("aria-pressed") == "false"
    await reader.locator(f"{column} .zone-toggle").click()
    await reader.reload()
    await reader.wait_for_selector(f"{column} .conn[data-state=live]")
    assert (await in_root(reader, column, DAYS_JS))[0] == ["2024-10-25", [["late", "01:30"]]]


async def test_an_embedded_column_says_more_new_ones_exist_than_it_shows(
    reader: Page, utc: tuple[UtcSite, Ingest]
) -> None:
    site, ingest = utc
    await ingest.apply({"articles": [article(f"o{i}", published_at=f"2024-10-24T0{i}:00:00Z")
                                     for i in range(1, 4)]})  # fmt: skip
    site.host.pages["/a"] = article_page(
        f'<script type="module" src="{site.feed}/embed.js"></script>',
        '<aside aria-label="News"><livefeed-column limit="3"></livefeed-column></aside>',
    )
    column = "livefeed-column"
    await reader.goto(site.host.origin + "/a")
    await reader.wait_for_selector(f"{column} .conn[data-state=live]")
    await reader.goto("about:blank")
    left = await since_record(reader.context, site.host.origin)
    await ingest.apply({"articles": [article(f"n{i}", published_at=f"2024-10-24T1{i}:00:00Z")
                                     for i in range(1, 6)]})  # fmt: skip
    await reader.goto(site.host.origin + "/a")
    divider = reader.locator(f"{column} .since")
    await reader.wait_for_selector(f"{column} .conn[data-state=live]")
    await divider.wait_for()
    # Three of the five fit: counted as known, "+" for the ones on older pages (in UTC here).
    assert await divider.text_content() == f"3+ new since {clock(left['at'], ZoneInfo('UTC'))}"
    assert await in_root(reader, column, ORDER_JS) == ["SINCE", "n5", "n4", "n3"]


# -- accessibility -------------------------------------------------------------------------------


async def older_visit(page: Page, origin: str) -> None:
    """Make the stored last visit older than every headline, as if the reader had been away
    (from a page of the same origin without a column, which would remember anew on leaving)."""
    await page.goto(origin + "/healthz")
    await page.evaluate(
        """() => { for (const k of Object.keys(localStorage)) if (k.startsWith('livefeed.since|'))
            localStorage.setItem(k, JSON.stringify({t: 0, id: '', at: Date.now() - 3600e3})); }"""
    )


async def test_axe_finds_nothing_in_the_divider_and_the_zone_note_light_dark_rtl_and_narrow(
    reader: Page, utc: tuple[UtcSite, Ingest]
) -> None:
    site, ingest = utc
    arabic = article("ar1", title="عنوان", language="ar", published_at="2024-10-24T21:00:00Z")
    await ingest.apply({"articles": [*ZONE_ARTICLES, arabic]})
    column = "livefeed-column"
    for scheme in ("light", "dark"):
        await reader.emulate_media(color_scheme=scheme)
        for path in ("/", "/?lang=ar", "/embed"):
            await reader.goto(site.feed + path)
            await reader.wait_for_selector(f"{column} .conn[data-state=live]")
            await older_visit(reader, site.feed)
            await reader.goto(site.feed + path)
            await reader.locator(f"{column} .since").wait_for()
            assert await axe_violations(reader) == [], (scheme, path)
            await reader.locator(f"{column} .zone-toggle").click()
            assert await reader.locator(f"{column} .since").count() == 1  # still unseen
            assert await axe_violations(reader) == [], (scheme, path, "pressed")
            await reader.locator(f"{column} .zone-toggle").click()
            width = await reader.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, (scheme, path, width)  # nothing wider than the phone
