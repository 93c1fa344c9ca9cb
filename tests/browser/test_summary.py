"""The live summary in Chromium: at the top of the live page and of an embed on another site,
set, changed and removed live within a second, collapsible, in every language the column
speaks, and without an accessibility violation (light, dark, right to left, 390 px wide)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
from playwright.async_api import Page

from tests.browser import test_embed
from tests.browser.embedhost import article_page
from tests.browser.test_embed import NEWS, Site, axe_violations, csp_errors, live
from tests.feed.test_timeline import seed_articles
from tests.helpers import Ingest, article

# The embed tests' stack (its own Redis, an allowed host origin) and fixtures.
site = test_embed.site
fresh_site = test_embed.fresh_site
ingest = test_embed.ingest

LIVE_S = 1.0  # a change reaches every open column within this, from its answer (it is stored)
PAGE = "#live"
TWO = "Russia launched 40 drones overnight.\n\nKyiv's air defence downed 35 of them."

SUMMARY_JS = """sel => {
    const box = document.querySelector(sel).shadowRoot.querySelector('.summary');
    if (!box || box.hidden) return null;
    return {paragraphs: [...box.querySelectorAll('.summary-text p')].map(p => p.textContent),
            title: box.querySelector('.summary-title').textContent,
            time: box.querySelector('.summary-time').textContent,
            datetime: box.querySelector('.summary-time').getAttribute('datetime'),
            open: box.querySelector('details').open,
            dir: getComputedStyle(box).direction};
}"""


async def summary_in(page: Page, selector: str) -> dict[str, Any] | None:
    shown: dict[str, Any] | None = await page.evaluate(SUMMARY_JS, selector)
    return shown


async def put(ingest: Ingest, text: str, **scope: str) -> dict[str, Any]:
    response = await ingest.client.put(
        f"{ingest.base}/v1/summary", json={"text": text, **scope}, headers=ingest.auth
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def delete(ingest: Ingest, **scope: str) -> None:
    response = await ingest.client.delete(
        f"{ingest.base}/v1/summary", params=scope, headers=ingest.auth
    )
    assert response.status_code == 200, response.text


async def within(
    page: Page, selector: str, predicate: str, what: str, since: float | None = None
) -> float:
    """Seconds from ``since`` (the change's answer; default: now) until ``predicate(s)`` holds
    for the summary ``s`` shown in ``selector``, failing past ``LIVE_S``."""
    started = time.monotonic() if since is None else since
    left = LIVE_S - (time.monotonic() - started)
    await page.wait_for_function(
        f"sel => {{ const s = ({SUMMARY_JS})(sel); return {predicate}; }}",
        arg=selector,
        timeout=max(1, left * 1000),
    )
    took = time.monotonic() - started
    print(f"\n{what}: {took * 1000:.0f} ms after the request")
    assert took <= LIVE_S, what
    return took


def news_embed(site: Site) -> str:
    return article_page(
        site.script(),
        '<aside aria-label="News"><livefeed-column section="news" limit="5"></livefeed-column>'
        "</aside>",
    )


async def test_a_summary_shows_changes_and_goes_live_on_the_page_and_in_an_embed(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply({"articles": [{**a, "section": "news"} for a in seed_articles()[:6]]})
    embed = await page.context.new_page()
    site.host.pages["/article"] = news_embed(site)
    refused = csp_errors(embed)
    await page.goto(site.feed + "/")
    await embed.goto(site.host.origin + "/article")
    await page.wait_for_selector("#conn[data-state=live]")
    await live(embed, NEWS)
    assert await summary_in(page, PAGE) is None
    assert await summary_in(embed, NEWS) is None

    body = await put(ingest, TWO)
    since = time.monotonic()
    expected_time = "Updated " + body["summary"]["updated_at"][11:16]
    status_js = "sel => document.querySelector(sel).shadowRoot.querySelector('[role=status]')"
    for tab, selector in ((page, PAGE), (embed, NEWS)):
        await within(tab, selector, "s && s.paragraphs.length === 2", "set, shown", since)
        shown = await summary_in(tab, selector)
        assert shown == {
            "paragraphs": TWO.split("\n\n"),
            "title": "Summary",
            "time": expected_time,
            "datetime": body["summary"]["updated_at"],
            "open": True,
            "dir": "ltr",
        }
        assert await tab.evaluate(f"{status_js}.textContent", selector) == "Summary updated."

    # Changed: the new text replaces the old; markup arrives as text, never as elements.
    await put(ingest, "Talks resume in Istanbul. <img src=x onerror=alert(1)>&lt;b&gt;")
    since = time.monotonic()
    for tab, selector in ((page, PAGE), (embed, NEWS)):
        await within(tab, selector, "s && s.paragraphs[0].startsWith('Talks')", "changed", since)
        assert (await summary_in(tab, selector) or {})["paragraphs"] == [
            "Talks resume in Istanbul. <b>"
        ]
        assert await tab.evaluate(
            "sel => !document.querySelector(sel).shadowRoot.querySelector('.summary img, "
            ".summary b')",
            PAGE if tab is page else NEWS,
        )

    # A summary of the news section: the news embed shows it, the unfiltered page keeps the
    # feed's; removing it brings the feed's back into the embed.
    await put(ingest, "News desk: the vote is at 18:00.", section="news")
    since = time.monotonic()
    await within(embed, NEWS, "s && s.paragraphs[0].startsWith('News desk')", "section's", since)
    assert (await summary_in(page, PAGE) or {})["paragraphs"] == ["Talks resume in Istanbul. <b>"]
    await delete(ingest, section="news")
    since = time.monotonic()
    await within(embed, NEWS, "s && s.paragraphs[0].startsWith('Talks')", "fell back", since)

    # Removed: gone from both.
    await delete(ingest)
    since = time.monotonic()
    for tab, selector in ((page, PAGE), (embed, NEWS)):
        await within(tab, selector, "s === null", "removed", since)
    assert refused == []


async def test_the_summary_is_server_rendered_collapsible_and_stays_as_the_reader_left_it(
    page: Page, fresh_site: Site, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    site = fresh_site
    await ingest.apply({"articles": [{**a, "section": "news"} for a in seed_articles()[:3]]})
    await put(ingest, TWO)
    html = (await http.get(site.feed + "/v1/fragment?section=news")).text
    assert "Russia launched 40 drones overnight." in html  # in the markup, before any script
    await page.goto(site.feed + "/")
    await page.wait_for_selector("#conn[data-state=live]")
    toggle = page.locator("#live .summary-head")
    await toggle.focus()
    await page.keyboard.press("Enter")  # a keyboard reader closes it
    assert (await summary_in(page, PAGE) or {})["open"] is False
    assert not await page.locator("#live .summary-text").is_visible()
    await put(ingest, "A newer summary.")
    await within(page, PAGE, "s && s.paragraphs[0] === 'A newer summary.'", "updated closed")
    assert (await summary_in(page, PAGE) or {})["open"] is False  # still as the reader left it
    await toggle.click()
    assert await page.locator("#live .summary-text").is_visible()


async def test_the_summary_speaks_ukrainian_and_arabic_right_to_left_and_axe_finds_nothing(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply({"articles": [{**a, "section": "news"} for a in seed_articles()[:4]]})
    body = await put(ingest, TWO)
    await page.set_viewport_size({"width": 390, "height": 844})
    for lang, title, updated, direction in (
        ("uk", "Підсумок", "Оновлено о {}", "ltr"),  # noqa: RUF001 - Ukrainian
        ("ar", "ملخص", "حُدّث الساعة {}", "rtl"),
    ):
        at = body["summary"]["updated_at"][11:16]  # the summary shown now
        await page.goto(f"{site.feed}/?lang={lang}")
        await page.wait_for_selector("#conn[data-state=live]")
        shown = await summary_in(page, PAGE) or {}
        assert (shown["title"], shown["time"], shown["dir"]) == (
            title,
            updated.format(at),
            direction,
        )
        assert await axe_violations(page) == []
        # The same words when the summary arrives live.
        body = await put(ingest, f"{lang}: {TWO}")
        await within(page, PAGE, f"s && s.paragraphs[0].startsWith('{lang}:')", f"live, {lang}")
        changed = await summary_in(page, PAGE) or {}
        assert changed["time"] == updated.format(body["summary"]["updated_at"][11:16])
        width = await page.evaluate(
            "() => live.shadowRoot.querySelector('.summary').getBoundingClientRect().width"
        )
        assert width <= 390
    for scheme in ("dark", "light"):
        await page.emulate_media(color_scheme=scheme)
        await page.goto(site.feed + "/embed?section=news")
        await live(page, NEWS)
        assert await summary_in(page, NEWS) is not None
        assert await axe_violations(page) == [], scheme


async def test_an_unknown_frame_is_skipped_and_a_summary_frame_stays_text(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply(article("n1", section="news"))
    sockets: list[Any] = []

    def route(ws: Any) -> None:
        ws.connect_to_server()  # frames pass through; the test adds its own
        sockets.append(ws)

    await page.route_web_socket(re.compile(r".*/v1/stream.*"), route)
    site.host.pages["/a"] = news_embed(site)
    await page.goto(site.host.origin + "/a")
    await live(page, NEWS)
    last = await page.eval_on_selector(NEWS, "c => c.dataset.lastEventId")
    ms, seq = (int(part) for part in last.split("-"))
    # A type this client does not know (a later version's): skipped, no error, nothing shown.
    sockets[0].send(json.dumps({"type": "poll", "event_id": f"{ms}-{seq + 1}", "poll": {}}))
    evil = '<img src=x onerror="window.pwned=1">Inert'
    summary = {"text": f"{evil}\n\nTwo", "updated_at": "2024-10-24T16:55:00+03:00", "by": "x",
               "section": None, "lang": None}  # fmt: skip
    frame = {"type": "summary", "event_id": f"{ms}-{seq + 2}", "section": None, "lang": None}
    sockets[0].send(json.dumps({**frame, "summary": summary}))
    await within(page, NEWS, "s && s.paragraphs.length === 2", "an injected summary")
    assert (await summary_in(page, NEWS) or {})["paragraphs"] == [evil, "Two"]
    assert await page.evaluate("() => window.pwned") is None
    # The column goes on with the next real change.
    assert (await ingest.post(article("n2", section="news"))).status_code == 202
    await page.wait_for_selector(f"{NEWS} [data-id=n2]", timeout=2_000)
