"""Editorial semantics on the live page, in Chromium: what a reader sees of corrections."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Page

from tests.helpers import Ingest, article
from tests.procs import Stack

pytestmark = pytest.mark.browser

NOTE = "An earlier version said <b>Thursday</b>; the summit is on Friday."


async def test_a_correction_appears_within_a_second_with_its_note_and_is_announced(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await ingest.apply(article("c-1", title="Summit on Thursday", version=1))
    await page.goto(fresh.url("feed") + "/")
    await page.wait_for_selector("#conn[data-state=live]")
    assert await page.locator("[data-id=c-1] .correction").count() == 0

    # Entities decode to the text "<b>…</b>", which must stay text on the page.
    sent = time.monotonic()
    response = await ingest.post(
        article(
            "c-1",
            title="Summit on Friday",
            version=2,
            correction=NOTE.replace("<", "&lt;").replace(">", "&gt;"),
        )
    )
    assert response.status_code == 202
    await page.wait_for_selector("[data-id=c-1] .correction", timeout=1_000)
    assert time.monotonic() - sent < 1.5
    item = page.locator("[data-id=c-1]")
    assert await item.locator(".item-title").text_content() == "Summit on Friday"
    assert await item.locator(".correction-text").text_content() == NOTE
    assert await item.locator(".correction b").count() == 0
    stamp = await item.locator(".correction-time").text_content()
    assert stamp is not None
    assert stamp.startswith("Corrected ")
    assert len(stamp) == len("Corrected 17:40")
    assert await item.locator(".badge").all_text_contents() == ["Updated"]
    status = page.locator("#status")
    assert await status.get_attribute("aria-live") == "polite"
    await page.wait_for_function(
        "note => document.getElementById('live').shadowRoot"
        ".getElementById('status').textContent.includes(note)",
        arg=NOTE,
    )
    assert (await status.text_content() or "").startswith("Corrected: Summit on Friday.")

    # The server renders the same markup: a reload shows the note without the stream.
    await page.reload()
    await page.wait_for_selector("#conn[data-state=live]")
    assert await item.locator(".correction-text").text_content() == NOTE
    assert await item.locator(".correction-time").text_content() == stamp


PINNED_JS = "els => els.map(e => e.dataset.id)"


async def column_ids(page: Page, css: str) -> list[str]:
    """The ids of the items ``css`` selects in the page's column (its shadow root)."""
    ids: list[str] = await page.eval_on_selector(
        "#live", "(c, css) => [...c.shadowRoot.querySelectorAll(css)].map(e => e.dataset.id)", css
    )
    return ids


async def pinned_ids(page: Page) -> list[str]:
    return await column_ids(page, ".pinned-items article.item")


async def test_a_pinned_headline_shows_once_and_a_fourth_pin_reorders_the_page_live(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    """A pinned headline is in the "Pinned" list only, with its "Pinned" mark; unpinned, it
    returns to its day. Pins, unpins, corrections and retractions all arrive live."""
    for n in range(1, 5):
        await ingest.apply(article(f"p{n}", section="news", version=1))
    for n in range(1, 4):
        await ingest.apply(article(f"p{n}", section="news", version=2, pinned=True))
    await page.goto(fresh.url("feed") + "/")
    await page.wait_for_selector("#conn[data-state=live]")
    assert await pinned_ids(page) == ["p3", "p2", "p1"]  # rendered by the server
    assert await page.locator("section.pinned h2").text_content() == "Pinned"
    badges = page.locator(".pinned [data-id=p3] .badge")
    assert await badges.all_text_contents() == ["Pinned"]
    assert await column_ids(page, "#timeline article.item") == ["p4"]  # once, not twice
    assert await column_ids(page, "article.item") == ["p3", "p2", "p1", "p4"]

    await page.evaluate("() => { window.sameDocument = true; }")
    outcome = await ingest.apply(article("p4", section="news", version=2, pinned=True))
    assert outcome[0]["unpinned"] == ["p1"]
    await page.wait_for_function(
        "() => [...document.getElementById('live').shadowRoot"
        ".querySelectorAll('article.item')].map(e => e.dataset.id).join() === 'p4,p3,p2,p1'",
        timeout=2_000,
    )
    assert await pinned_ids(page) == ["p4", "p3", "p2"]
    assert await column_ids(page, "#timeline article.item") == ["p1"]  # back in its day
    assert await page.locator("#timeline [data-id=p1] .badge").all_text_contents() == ["Updated"]
    await ingest.apply(article("p3", section="news", version=3, pinned=False))
    await page.wait_for_function(
        "() => [...document.getElementById('live').shadowRoot"
        ".querySelectorAll('.pinned-items article.item')]"
        ".map(e => e.dataset.id).join() === 'p4,p2'"
    )
    assert sorted(await column_ids(page, "#timeline article.item")) == ["p1", "p3"]
    # A correction to a pinned headline shows in its one place; a retraction takes it away.
    await ingest.apply(
        article("p4", section="news", version=3, pinned=True, correction="The date was wrong.")
    )
    await page.wait_for_selector(".pinned [data-id=p4] .correction")
    assert await page.locator("[data-id=p4]").count() == 1
    await page.wait_for_function(
        "() => document.getElementById('live').shadowRoot.getElementById('status')"
        ".textContent.includes('The date was wrong.')"
    )
    response = await ingest.client.delete(f"{ingest.base}/v1/articles/p2", headers=ingest.auth)
    assert response.status_code == 202
    await page.wait_for_function(
        "() => [...document.getElementById('live').shadowRoot"
        ".querySelectorAll('article.item')].map(e => e.dataset.id).join() === 'p4,p3,p1'"
    )
    # No reload happened: the page still follows the stream it opened.
    assert await page.evaluate("() => window.sameDocument === true")
    await page.reload()
    await page.wait_for_selector("#conn[data-state=live]")
    assert await pinned_ids(page) == ["p4"]
    assert sorted(await column_ids(page, "#timeline article.item")) == ["p1", "p3"]
    # The timeline JSON keeps its contract: pinned items listed apart and in their day.
    timeline = (await ingest.client.get(f"{fresh.url('feed')}/v1/timeline")).json()
    assert [i["id"] for i in timeline["pinned"]] == ["p4"]
    assert "p4" in [i["id"] for d in timeline["days"] for i in d["items"]]


async def visible_ids(page: Page) -> list[str]:
    ids: list[str] = await page.eval_on_selector_all(
        "#timeline article.item",
        "els => els.filter(e => e.offsetParent !== null).map(e => e.dataset.id)",
    )
    return ids


async def test_the_key_events_toggle_shows_only_key_events_live(
    page: Page, ingest: Ingest, fresh: Stack
) -> None:
    await ingest.apply(
        {
            "articles": [
                article("k1", labels=["key"], published_at="2024-10-24T10:00:00+03:00"),
                article("n1", published_at="2024-10-24T11:00:00+03:00"),
                article("n0", published_at="2024-10-23T11:00:00+03:00"),
            ]
        }
    )
    await page.goto(fresh.url("feed") + "/")
    await page.wait_for_selector("#conn[data-state=live]")
    toggle = page.get_by_role("button", name="Key events")
    assert await toggle.get_attribute("aria-pressed") == "false"
    assert await visible_ids(page) == ["n1", "k1", "n0"]
    await toggle.click()
    assert await toggle.get_attribute("aria-pressed") == "true"
    assert await visible_ids(page) == ["k1"]
    assert not await page.locator("section.day[data-date='2024-10-23']").is_visible()
    assert await page.locator("#status").text_content() == "Showing key events only."
    # The same stream: a key event arrives and shows, an ordinary headline stays hidden.
    await ingest.apply(article("n2", published_at="2024-10-24T12:00:00+03:00"))
    await ingest.apply(article("k2", labels=["Key"], published_at="2024-10-24T13:00:00+03:00"))
    await page.wait_for_selector("#timeline [data-id=k2]")
    await page.wait_for_selector("#timeline [data-id=n2]", state="attached")
    assert await visible_ids(page) == ["k2", "k1"]
    await toggle.click()
    assert await visible_ids(page) == ["k2", "n2", "n1", "k1", "n0"]
    badge = page.locator("#timeline [data-id=k2] .badge")
    assert await badge.all_text_contents() == ["Key event"]
    # The server filters the same way.
    timeline = await ingest.client.get(f"{fresh.url('feed')}/v1/timeline?label=key")
    ids = [i["id"] for d in timeline.json()["days"] for i in d["items"]]
    assert ids == ["k2", "k1"]
