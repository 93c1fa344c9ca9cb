"""Permalinks in a real browser: ``/?at=<id>`` opens the column at a headline far back, the live
stream keeps flowing around it, a headline that is gone says so, and every headline's time and
menu give its link; on the live page and in an embed."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser import test_embed
from tests.browser.test_embed import Site, axe_violations
from tests.feed.test_permalink import START, many, newest_first
from tests.helpers import Ingest, article, eventually
from tests.procs import Stack

pytestmark = pytest.mark.browser

# The embed tests' stack, which lets their host site embed the column (LIVEFEED_EMBED_ORIGINS).
site = test_embed.site
fresh_site = test_embed.fresh_site

ITEMS_JS = (
    "c => [...c.shadowRoot.querySelectorAll('#timeline article.item')].map(a => a.dataset.id)"
)
# What has the focus, through shadow roots: an article's id, else an element's id or text.
FOCUSED_JS = """() => {
    let e = document.activeElement;
    while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
    return e.dataset.id || e.id || e.textContent.trim();
}"""
ANCHOR = "p030"  # the 100th newest of many()


async def shown(page: Page, host: str = "#live") -> list[str]:
    result: list[str] = await page.eval_on_selector(host, ITEMS_JS)
    return result


async def focused(page: Page) -> str:
    result: str = await page.evaluate(FOCUSED_JS)
    return result


async def retract(ingest: Ingest, article_id: str) -> None:
    response = await ingest.client.delete(
        f"{ingest.base}/v1/articles/{article_id}", headers=ingest.auth
    )
    await ingest.wait_applied(response)


def later(minutes: int, article_id: str, **fields: Any) -> dict[str, Any]:
    """A headline ``minutes`` after the first of many()."""
    return article(
        article_id, published_at=(START + timedelta(minutes=minutes)).isoformat(), **fields
    )


async def test_a_headline_100_back_opens_in_view_highlighted_and_live_and_newer_loads_to_the_top(
    page: Page, fresh: Stack, ingest: Ingest
) -> None:
    await ingest.apply({"articles": many()})
    await page.emulate_media(reduced_motion="reduce")
    await page.goto(f"{fresh.url('feed')}/?at={ANCHOR}")
    await page.wait_for_selector("#conn[data-state=live]")
    anchor = page.locator(f"#timeline article.item[data-id={ANCHOR}]")
    await expect(anchor).to_be_in_viewport()
    await expect(anchor).to_have_attribute("aria-current", "true")
    assert await focused(page) == ANCHOR  # keyboard and screen-reader users start there
    paper = await page.eval_on_selector(
        "#live", "c => getComputedStyle(c.shadowRoot.querySelector('.column')).backgroundColor"
    )
    assert await anchor.evaluate("a => getComputedStyle(a).backgroundColor") not in (
        paper,
        "rgba(0, 0, 0, 0)",
    )
    everything = newest_first()
    assert await shown(page) == everything[96 : 100 + 40]  # 3 newer, it, 40 older

    # A new headline while the newest are not loaded: counted, never put in the gap.
    await ingest.apply(later(500, "late-1"))
    newer = page.locator("#live #newer")
    await expect(newer).to_contain_text("1 new headline")
    await expect(page.locator("#live #new-headlines")).to_contain_text("1 new headline")
    assert await page.get_attribute("#live", "data-unseen") == "1"
    assert "late-1" not in await shown(page)
    # A change to the headline applies in place, and it stays marked.
    await ingest.apply(later(30, ANCHOR, title="The anchor, updated", version=2))
    await expect(anchor.locator(".item-title")).to_have_text("The anchor, updated")
    await expect(anchor).to_have_attribute("aria-current", "true")
    assert (await shown(page))[3] == ANCHOR

    # "Newer headlines" loads page after page (40 at a time) up to the top, then goes.
    clicks = 0
    while await newer.is_visible():
        await newer.click()
        clicks += 1
        await page.wait_for_function(
            "() => !live.shadowRoot.querySelector('#newer[aria-disabled]')"
        )
    assert clicks == 3
    assert await shown(page) == ["late-1", *everything[:140]]
    await expect(page.locator("#live #new-headlines")).to_be_hidden()
    assert await page.get_attribute("#live", "data-unseen") == "0"

    # Joined with the top: live as any column.
    await page.evaluate("() => scrollTo(0, 0)")
    await ingest.apply(later(600, "late-2"))
    await eventually(lambda: _first_is(page, "late-2"), what="late-2 at the top")


async def _first_is(page: Page, article_id: str) -> bool:
    return (await shown(page))[:1] == [article_id]


async def test_a_retracted_and_an_unknown_id_say_so_above_the_newest_column(
    page: Page, fresh: Stack, ingest: Ingest
) -> None:
    feed = fresh.url("feed")
    await ingest.apply({"articles": many(20)})
    await retract(ingest, "p005")
    for at, reason in (("p005", "retracted"), ("nothing-here", "may have expired")):
        response = await page.goto(f"{feed}/?at={at}")
        assert response is not None
        assert response.status == 200
        await page.wait_for_selector("#conn[data-state=live]")
        notice = page.locator("#live .at-gone")
        await expect(notice).to_contain_text("This headline is no longer available.")
        await expect(notice).to_contain_text(reason)
        assert await focused(page) == "at-gone"
        assert (await shown(page))[:2] == ["p019", "p018"]  # the newest, as always
        problem = await page.request.get(f"{feed}/v1/timeline?at={at}")
        assert problem.status == 404
        assert (await problem.json())["errors"][0]["field"] == "at"


async def test_each_time_links_to_its_headline_and_its_menu_copies_the_link_by_keyboard(
    page: Page, fresh: Stack, ingest: Ingest
) -> None:
    feed = fresh.url("feed")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=feed)
    await ingest.apply({"articles": many(3)})
    await page.goto(feed + "/")
    await page.wait_for_selector("#conn[data-state=live]")
    link = page.locator("#timeline [data-id=p001] a.time-link")
    assert await link.evaluate("a => a.href") == f"{feed}/?at=p001"

    button = page.locator("#timeline [data-id=p001] .item-more")
    await button.focus()
    await page.keyboard.press("Enter")
    menu = page.locator("#live .item-menu")
    await expect(menu).to_be_visible()
    await expect(button).to_have_attribute("aria-expanded", "true")
    assert await focused(page) == "Copy link"
    await page.keyboard.press("Escape")
    await expect(menu).to_be_hidden()
    await expect(button).to_have_attribute("aria-expanded", "false")
    assert await button.evaluate("b => b.getRootNode().activeElement === b")
    await page.keyboard.press("Enter")
    await page.keyboard.press("Enter")  # "Copy link"
    await expect(page.locator("#live #status")).to_have_text("Link copied.")
    assert await page.evaluate("() => navigator.clipboard.readText()") == f"{feed}/?at=p001"

    # A headline that arrives live has its link and its menu too.
    await ingest.apply(later(50, "live-1"))
    arrived = page.locator("#timeline [data-id=live-1]")
    await expect(arrived.locator(".item-more")).to_have_count(1)
    assert await arrived.locator("a.time-link").evaluate("a => a.href") == f"{feed}/?at=live-1"
    # The time opens the page at its headline.
    await page.locator("#timeline [data-id=p000] a.time-link").click()
    await page.wait_for_url(f"{feed}/?at=p000")
    await expect(page.locator("#timeline [data-id=p000]")).to_have_attribute("aria-current", "true")


async def test_the_element_opens_at_its_at_attribute_or_at_its_page_s_at_on_a_host_site(
    page: Page, fresh_site: Site, http: httpx.AsyncClient
) -> None:
    site = fresh_site
    ingest = Ingest(site.stack, http)
    await ingest.apply({"articles": many()})
    site.host.pages["/live"] = (
        f'<!doctype html><html lang="en"><head><title>Live</title>{site.script()}</head><body>'
        '<main><livefeed-column page-href="/live" limit="5"></livefeed-column></main></body></html>'
    )
    site.host.pages["/story"] = (
        f'<!doctype html><html lang="en"><head><title>Story</title>{site.script()}</head><body>'
        '<main><livefeed-column at="p020" limit="5"></livefeed-column></main></body></html>'
    )
    # The column's own page (page-href) takes ?at= from its address.
    await page.goto(f"{site.host.origin}/live?at={ANCHOR}")
    column = "livefeed-column"
    await page.wait_for_selector(f"{column} .conn[data-state=live]")
    anchor = page.locator(f"{column} article.item[data-id={ANCHOR}]")
    await expect(anchor).to_be_in_viewport()
    await expect(anchor).to_have_attribute("aria-current", "true")
    assert await focused(page) == ANCHOR
    href = await page.locator(f"{column} [data-id=p031] a.time-link").evaluate("a => a.href")
    assert href == f"{site.host.origin}/live?at=p031"
    assert len(await shown(page, column)) == 3 + 1 + 5
    # Any page: the element's own `at`.
    await page.goto(f"{site.host.origin}/story")
    await page.wait_for_selector(f"{column} .conn[data-state=live]")
    await expect(page.locator(f"{column} [data-id=p020]")).to_have_attribute("aria-current", "true")
    assert await focused(page) == "p020"
    # Without page-href, a time leads to the feed's own page.
    href = await page.locator(f"{column} [data-id=p021] a.time-link").evaluate("a => a.href")
    assert href == f"{site.feed}/?at=p021"


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_axe_finds_nothing_on_the_highlighted_headline_newer_and_the_menu(
    page: Page, fresh: Stack, ingest: Ingest, scheme: str
) -> None:
    feed = fresh.url("feed")
    await ingest.apply({"articles": many(60) + many(60, "a", language="ar", section="ar")})
    await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    await page.goto(f"{feed}/?at=p030")
    await page.wait_for_selector("#conn[data-state=live]")
    await page.locator("#timeline [data-id=p030] .item-more").click()
    await expect(page.locator("#live .item-menu")).to_be_visible()
    assert await axe_violations(page) == []
    # Right to left, on a phone: the menu opens inside the screen.
    await page.set_viewport_size({"width": 390, "height": 800})
    await page.goto(f"{feed}/?lang=ar&section=ar&at=a030")
    await page.wait_for_selector("#conn[data-state=live]")
    assert await page.get_attribute("#live", "dir") == "rtl"
    await expect(page.locator("#live #newer")).to_have_text(re.compile(r"\S"))
    await page.locator("#timeline [data-id=a030] .item-more").click()
    box = await page.locator("#live .item-menu").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    assert await axe_violations(page) == []
