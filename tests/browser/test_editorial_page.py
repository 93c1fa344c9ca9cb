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
        "note => document.getElementById('status').textContent.includes(note)", arg=NOTE
    )
    assert (await status.text_content() or "").startswith("Corrected: Summit on Friday.")

    # The server renders the same markup: a reload shows the note without the stream.
    await page.reload()
    await page.wait_for_selector("#conn[data-state=live]")
    assert await item.locator(".correction-text").text_content() == NOTE
    assert await item.locator(".correction-time").text_content() == stamp
