"""Editions in a real browser: the live page in Ukrainian and Arabic, its dates and plurals
written by the client (Intl, the catalog's patterns) exactly as the server writes them."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page

from tests.browser.test_embed import axe_violations
from tests.feed.test_timeline import seed_articles
from tests.helpers import Ingest, article
from tests.procs import Stack

pytestmark = pytest.mark.browser

ROOT = "document.getElementById('live').shadowRoot"
HEADS_JS = """heads => heads.map(h => [h.parentElement.dataset.date,
    h.querySelector('.day-year').textContent, h.querySelector('.day-date').textContent])"""


def edition(lang: str, count: int = 40) -> list[dict[str, Any]]:
    """The seed's headlines as an edition in ``lang`` (same days and times, ids of their own)."""
    return [
        {**a, "id": f"{lang}-{i}", "title": f"{lang} {a['title']}", "language": lang}
        for i, a in enumerate(seed_articles()[:count])
    ]


async def open_live(page: Page, url: str) -> None:
    await page.goto(url)
    await page.wait_for_selector("#conn[data-state=live]", timeout=10_000)


async def heads(page: Page) -> list[list[str]]:
    result: list[list[str]] = await page.eval_on_selector_all("section.day .day-head", HEADS_JS)
    return result


async def shown_ids(page: Page) -> list[str]:
    ids: list[str] = await page.eval_on_selector_all(
        "#timeline article.item", "els => els.map(e => e.dataset.id)"
    )
    return ids


async def server_heads(http: httpx.AsyncClient, url: str) -> list[list[str]]:
    """The day headers as the server renders them (no browser)."""
    html = (await http.get(url)).text
    found = re.findall(
        r'data-date="([0-9-]+)"><h\d [^>]*><span class="day-year"[^>]*>([^<]*)</span> '
        r'<span class="day-date"[^>]*>([^<]*)</span>',
        html,
    )
    return [list(f) for f in found]


async def test_the_ukrainian_page_writes_days_as_the_server_and_shows_only_ukrainian(
    page: Page, ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    await ingest.apply({"articles": seed_articles() + edition("uk")})
    url = fresh.url("feed") + "/?lang=uk"
    await open_live(page, url)
    assert await page.get_attribute("html", "lang") == "uk"
    first = (await heads(page))[0]
    assert first == ["2024-10-24", "2024, четвер", "24 жовтня"]
    assert set(await shown_ids(page)) == {f"uk-{i}" for i in range(40)}  # no English

    # An English headline posted live never enters; the Ukrainian one after it does, under
    # its day's Ukrainian header.
    english = article("en-live", title="English only", published_at="2024-10-24T20:00:00+03:00")
    assert (await ingest.post(english)).status_code == 202
    ukrainian = article("uk-live", title="Наживо", language="uk",
                        published_at="2024-10-24T20:05:00+03:00")  # fmt: skip
    assert (await ingest.post(ukrainian)).status_code == 202
    await page.wait_for_function(
        f"() => {ROOT}.querySelector('#timeline article.item').dataset.id === 'uk-live'"
    )
    assert "en-live" not in await shown_ids(page)
    day = await page.eval_on_selector(
        "[data-id=uk-live]", "a => a.closest('section.day').querySelector('.day-date').textContent"
    )
    assert day == "24 жовтня"

    # A day the client makes itself reads as the server writes it, and so does the time.
    tomorrow = article("uk-next", title="Завтра", language="uk-UA",
                       published_at="2024-10-25T08:00:00+03:00")  # fmt: skip
    assert (await ingest.post(tomorrow)).status_code == 202
    await page.wait_for_selector("section.day[data-date='2024-10-25']")
    client = await heads(page)
    assert client[0] == ["2024-10-25", "2024, пʼятниця", "25 жовтня"]
    client_title = await page.get_attribute("[data-id=uk-next] time", "title")
    assert client == await server_heads(http, url)
    await open_live(page, url)  # the same headline as the server renders it
    assert await page.get_attribute("[data-id=uk-next] time", "title") == client_title
    assert client_title == "пʼятниця, 25 жовтня 2024, 08:00 (UTC+03:00, Europe/Kyiv)"


async def test_ukrainian_plural_forms_of_new_headlines(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await ingest.apply({"articles": edition("uk")})
    await page.set_viewport_size({"width": 1000, "height": 700})
    await open_live(page, fresh.url("feed") + "/?lang=uk")
    await page.evaluate("window.scrollTo(0, 1500)")  # scrolled: new ones wait behind the pill
    pill = page.locator("#new-headlines")
    posted = 0
    # (total shown on the pill, its words; the burst announced, its words)
    steps = (
        (1, "новий заголовок", "1 новий заголовок вище"),
        (2, "нові заголовки", "1 новий заголовок вище"),
        (5, "нових заголовків", "3 нові заголовки вище"),
        (21, "новий заголовок", "16 нових заголовків вище"),
    )
    for total, form, announced in steps:
        batch = [
            article(f"new-{n}", language="uk", published_at=f"2024-10-24T21:{n:02d}:00+03:00")
            for n in range(posted, total)
        ]
        # Blanked first, so each burst's own announcement is waited for.
        await page.evaluate(f"() => {{ {ROOT}.getElementById('status').textContent = ''; }}")
        await ingest.apply({"articles": batch})
        posted = total
        await page.wait_for_function(
            f"() => {ROOT}.getElementById('new-headlines').textContent === '↑ {total} {form}'"
        )
        await page.wait_for_function(
            f"() => {ROOT}.getElementById('status').textContent === '{announced}'"
        )
    assert await pill.is_visible()
    assert await page.title() == "(21) Новини — livefeed"

    # Paused: the announcement says so, in the same forms.
    await page.evaluate("window.scrollTo(0, 0)")  # back at the top: they are shown
    await pill.wait_for(state="hidden")
    await page.locator("#pause").click()
    held = article("held-1", language="uk", published_at="2024-10-24T22:00:00+03:00")
    await ingest.apply({"articles": [held]})
    await page.wait_for_function(
        f"() => {ROOT}.getElementById('status').textContent === '1 новий заголовок (на паузі)'"
    )
    assert await page.text_content("#pause") == "Відновити оновлення (нових: 1)"


async def test_the_arabic_page_reads_right_to_left_with_the_servers_dates(
    page: Page, ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    await ingest.apply({"articles": edition("ar", 5)})
    url = fresh.url("feed") + "/?lang=ar"
    await open_live(page, url)
    assert await page.get_attribute("html", "dir") == "rtl"
    assert await page.get_attribute("livefeed-column", "dir") == "rtl"
    assert await page.eval_on_selector("#timeline", "t => getComputedStyle(t).direction") == "rtl"
    assert (await heads(page))[0] == ["2024-10-24", "2024، الخميس", "24 أكتوبر"]
    later = article("ar-next", language="ar", published_at="2024-10-26T09:30:00+03:00")
    assert (await ingest.post(later)).status_code == 202
    await page.wait_for_selector("section.day[data-date='2024-10-26']")
    assert await heads(page) == await server_heads(http, url)
    assert await page.text_content("[data-id=ar-next] time") == "09:30"


@pytest.mark.parametrize("lang", ["uk", "ar"])
async def test_axe_finds_nothing_on_the_edition_page_and_iframe_page(
    page: Page, ingest: Ingest, fresh: Stack, lang: str
) -> None:
    await ingest.apply({"articles": edition(lang, 15)})
    await open_live(page, fresh.url("feed") + f"/?lang={lang}")
    assert await axe_violations(page) == []
    await page.goto(fresh.url("feed") + f"/embed?lang={lang}")
    await page.wait_for_selector("livefeed-column .conn[data-state=live]", timeout=10_000)
    assert await axe_violations(page) == []
