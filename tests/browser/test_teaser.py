"""The home-page teaser: ``<livefeed-teaser>`` on a news site's own origin (strict CSP), its
fragment (``/v1/fragment?view=teaser``), its one shared connection and its size."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page

from services.feed.column import MODULE_FILES, Assets
from shared.settings import Settings
from tests.browser import test_embed as embed
from tests.browser.embedhost import article_page
from tests.browser.test_embed import Site, axe_violations, csp_errors, dark, live, retract
from tests.helpers import Ingest, article

pytestmark = pytest.mark.browser

# The embed tests' stack (one host origin allowed) and its fixtures, for this module too.
site = embed.site
fresh_site = embed.fresh_site
ingest = embed.ingest

TEASER = "livefeed-teaser"
TEASER_BUDGET_GZIP_BYTES = 3 * 1024
IDS_JS = "t => [...t.shadowRoot.querySelectorAll('li.item')].map(li => li.dataset.id)"
HREFS_JS = "t => [...t.shadowRoot.querySelectorAll('li.item a')].map(a => a.getAttribute('href'))"
TITLES_JS = "t => [...t.shadowRoot.querySelectorAll('li.item .title')].map(s => s.textContent)"
MARK_JS = "t => [t.shadowRoot.querySelector('.mark').dataset.state, " \
    "t.shadowRoot.querySelector('.mark').textContent]"  # fmt: skip


def headlines(n: int, section: str = "news", prefix: str = "h") -> list[dict[str, Any]]:
    """``n`` headlines a minute apart, ``<prefix>0`` the oldest."""
    return [
        article(
            f"{prefix}{i}", section=section, published_at=f"2024-10-24T16:{10 + i:02d}:00+03:00"
        )
        for i in range(n)
    ]


async def ids(page: Page, selector: str = TEASER) -> list[str]:
    found: list[str] = await page.eval_on_selector(selector, IDS_JS)
    return found


async def teaser_live(page: Page, selector: str = TEASER) -> None:
    await page.wait_for_selector(f"{selector}[data-ready]")
    await page.wait_for_function(
        "sel => document.querySelector(sel).shadowRoot.querySelector('.mark')"
        ".dataset.state === 'live'",
        arg=selector,
        timeout=10_000,
    )


def csp_with_teaser(site: Site, teaser_hash: str) -> str:
    """The strict policy, with the teaser fragment's style hash for a server-side include."""
    return site.strict_csp().replace("style-src 'self' ", f"style-src 'self' {teaser_hash} ")


# -- the element ---------------------------------------------------------------------------------


async def test_a_teaser_shows_three_headlines_live_and_links_each_to_the_column_at_it(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply({"articles": headlines(5)})
    site.host.pages["/"] = article_page(
        site.script(),
        f'<aside aria-label="Live"><{TEASER} limit="3" href="/live"></{TEASER}></aside>',
        title="Home — Espreso Global",
    )
    refused = csp_errors(page)
    await page.goto(site.host.origin + "/")
    await teaser_live(page)
    assert await ids(page) == ["h4", "h3", "h2"]
    assert await page.eval_on_selector(TEASER, HREFS_JS) == [
        "/live?at=h4",
        "/live?at=h3",
        "/live?at=h2",
    ]
    assert await page.eval_on_selector(TEASER, MARK_JS) == ["live", "Live"]

    # Published: in front within a second, and the oldest leaves.
    assert (
        await ingest.post(article("new", section="news", title="Breaking: new"))
    ).status_code == 202
    await page.wait_for_selector(f"{TEASER} li[data-id=new]", timeout=1_000)
    assert await ids(page) == ["new", "h4", "h3"]
    assert await page.eval_on_selector(
        TEASER, "t => t.shadowRoot.querySelector('li[data-id=new] a').getAttribute('href')"
    ) == "/live?at=new"  # fmt: skip

    # Updated: in place.
    await ingest.apply({**article("h4", section="news", title="Updated title"), "version": 2,
                        "published_at": "2024-10-24T16:14:00+03:00"})  # fmt: skip
    await page.wait_for_function(
        "t => document.querySelector(t).shadowRoot.querySelector('[data-id=h4] .title')"
        ".textContent === 'Updated title'",
        arg=TEASER,
    )
    assert await ids(page) == ["new", "h4", "h3"]

    # Retracted: gone, and the next older one takes the place.
    await retract(ingest, "h4")
    await page.wait_for_function(
        "t => !document.querySelector(t).shadowRoot.querySelector('[data-id=h4]')", arg=TEASER
    )
    await page.wait_for_function(
        "t => document.querySelector(t).shadowRoot.querySelectorAll('li.item').length === 3",
        arg=TEASER,
    )
    assert await ids(page) == ["new", "h3", "h2"]

    # Out of its section: gone too.
    site.host.pages["/"] = site.host.pages["/"].replace('limit="3"', 'limit="3" section="news"')
    await page.goto(site.host.origin + "/")
    await teaser_live(page)
    await ingest.apply({**article("h3", section="world"), "version": 2,
                        "published_at": "2024-10-24T16:13:00+03:00"})  # fmt: skip
    await page.wait_for_function(
        "t => !document.querySelector(t).shadowRoot.querySelector('[data-id=h3]')", arg=TEASER
    )

    # Each link opens the column page at its headline.
    site.host.pages["/live"] = article_page(site.script(), "<p>The live page</p>")
    await page.click(f"{TEASER} li[data-id=new] a")
    await page.wait_for_url(site.host.origin + "/live?at=new")
    assert refused == []


async def test_a_teaser_and_a_column_on_one_page_share_one_connection(
    page: Page, fresh_site: Site, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    site = fresh_site
    await ingest.apply({"articles": headlines(4)})
    fragment = f"{site.feed}/v1/fragment?view=teaser&limit=3&href=/live"
    teaser_hash = (await http.get(fragment)).headers["livefeed-style-hash"]
    site.host.csp = csp_with_teaser(site, teaser_hash)
    # The teaser server-side included (hydrated in place), the column as an element.
    site.host.pages["/"] = article_page(
        site.script(),
        f'<aside aria-label="Live"><!--#include virtual="{fragment}" --></aside>\n'
        '<aside aria-label="News"><livefeed-column section="news" limit="10"></livefeed-column>'
        "</aside>",
    )
    sockets: list[str] = []
    streams: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("request", lambda r: streams.append(r.url) if "/v1/events" in r.url else None)
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "view=teaser" in r.url else None)
    refused = csp_errors(page)
    await page.goto(site.host.origin + "/")
    await teaser_live(page)
    await live(page, "livefeed-column")
    assert await ids(page) == ["h3", "h2", "h1"]
    assert fetched == []  # hydrated in place: no request for its markup

    assert (await ingest.post(article("both", section="news"))).status_code == 202
    await page.wait_for_selector(f"{TEASER} li[data-id=both]", timeout=1_000)
    await page.wait_for_selector("livefeed-column [data-id=both]", timeout=1_000)
    assert len(sockets) == 1, sockets
    assert streams == []
    assert refused == []


# -- the fragment -------------------------------------------------------------------------------


async def test_the_teaser_fragment_is_server_rendered_and_bad_fields_are_named(
    page: Page, fresh_site: Site, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    site = fresh_site
    await ingest.apply({"articles": headlines(4)})
    url = f"{site.feed}/v1/fragment"
    response = await http.get(
        url, params={"view": "teaser", "limit": "2", "href": "/live#top"},
        headers={"Origin": site.host.origin},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == site.host.origin
    assert "article:" in response.headers["surrogate-key"]
    body = response.text
    assert body.startswith("<livefeed-teaser ")
    assert '<template shadowrootmode="open">' in body
    assert re.findall(r'<a class="link" href="([^"]+)"', body) == [
        "/live?at=h3#top",
        "/live?at=h2#top",
    ]
    assert 'part="mark"' in body
    assert "data-lf-messages" in body
    # Without href: the feed's own page, with the teaser's filters.
    plain = await http.get(url, params={"view": "teaser", "section": "news", "limit": "1"})
    assert f'href="{site.feed}/?section=news&amp;at=h3"' in plain.text

    # Read without JavaScript: the declarative shadow root alone.
    site.host.pages["/"] = article_page("", f'<aside aria-label="Live">{body}</aside>')
    site.host.csp = csp_with_teaser(site, response.headers["livefeed-style-hash"])
    await page.route("**/*.js", lambda route: route.abort())
    await page.goto(site.host.origin + "/")
    assert await page.eval_on_selector(TEASER, TITLES_JS) == ["Headline h3", "Headline h2"]

    for params, field in (
        ({"view": "list"}, "view"),
        ({"view": "teaser", "href": "//evil.example/"}, "href"),
        ({"view": "teaser", "href": "javascript:alert(1)"}, "href"),
        ({"view": "teaser", "limit": "11"}, "limit"),
        ({"view": "teaser", "limit": "0"}, "limit"),
    ):
        bad = await http.get(url, params=params)
        assert bad.status_code == 400, (params, bad.text)
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in bad.json()["errors"]] == [field], params


# -- accessibility, scheme, direction, width -----------------------------------------------------


async def test_axe_finds_nothing_in_the_teaser_light_dark_right_to_left_and_at_390_px(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    arabic = [
        {**a, "id": f"ar{i}", "language": "ar", "title": f"عنوان رقم {i}"}
        for i, a in enumerate(headlines(3))
    ]
    await ingest.apply({"articles": headlines(3) + arabic})
    site.host.pages["/"] = article_page(
        site.script(),
        f'<aside aria-label="Live"><{TEASER} id="en" href="/live"></{TEASER}></aside>\n'
        f'<aside aria-label="مباشر"><{TEASER} id="ar" lang="ar" href="/ar/live"></{TEASER}>'
        "</aside>",
    )
    await page.goto(site.host.origin + "/")
    await teaser_live(page, "#en")
    await teaser_live(page, "#ar")
    assert await axe_violations(page) == []
    assert await page.get_attribute("#ar", "dir") == "rtl"
    assert await page.eval_on_selector("#ar", MARK_JS) == ["live", "مباشر"]
    assert await ids(page, "#ar") == ["ar2", "ar1", "ar0"]

    paper = "t => getComputedStyle(t.shadowRoot.querySelector('.teaser')).backgroundColor"
    await page.emulate_media(color_scheme="dark")
    assert dark(await page.eval_on_selector("#en", paper))
    assert await axe_violations(page) == []

    # A phone: the strip is a short list, nothing wider than the screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
    tops = await page.eval_on_selector(
        "#en", "t => [...t.shadowRoot.querySelectorAll('li.item')].map(li => li.offsetTop)"
    )
    assert len(set(tops)) == 3  # one under another
    assert await axe_violations(page) == []
    # A wide screen: one row.
    await page.set_viewport_size({"width": 1200, "height": 800})
    tops = await page.eval_on_selector(
        "#en", "t => [...t.shadowRoot.querySelectorAll('li.item')].map(li => li.offsetTop)"
    )
    assert len(set(tops)) == 1

    # Offline: the mark says so, dimmed.
    await page.context.set_offline(True)
    await page.wait_for_function(
        "() => document.querySelector('#en').shadowRoot.querySelector('.mark')"
        ".dataset.state === 'offline'"
    )
    assert await page.eval_on_selector("#en", MARK_JS) == ["offline", "Offline"]
    assert await axe_violations(page) == []
    await page.context.set_offline(False)


# -- budget --------------------------------------------------------------------------------------


async def test_the_teaser_costs_at_most_3_kb_gzipped_beyond_the_shared_client(
    fresh_site: Site, http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    served = await http.get(fresh_site.feed + "/embed.js", follow_redirects=True)
    assert b"livefeed-teaser" in served.content  # the one module defines it
    settings = Settings()
    with_teaser = Assets(settings)
    # Everything but the teaser's own file (the column's parts, zone.js, since.js, readers.js,
    # are the shared client's).
    without = Assets(settings, tuple(name for name in MODULE_FILES if name != "teaser.js"))
    delta = with_teaser.gzipped_size - without.gzipped_size
    with capsys.disabled():
        print(f"\nteaser: +{delta} bytes gzipped beyond the shared client "
              f"({without.gzipped_size} → {with_teaser.gzipped_size}; "
              f"budget {TEASER_BUDGET_GZIP_BYTES})")  # fmt: skip
    assert 0 < delta <= TEASER_BUDGET_GZIP_BYTES
