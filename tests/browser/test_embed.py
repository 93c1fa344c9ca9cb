"""The live column on another site: ``<livefeed-column>``, the fragment, the iframe, CORS.

Every host page is served from an origin of its own (a small HTTP server on another port) with
a strict Content-Security-Policy: no inline script, no ``unsafe-eval``, no inline style.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis
import websockets
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Route,
    WebSocketRoute,
    expect,
)

from shared import keys
from shared.redis_server import EmbeddedRedis
from tests.browser.embedhost import HOST_CSS, Host, article_page
from tests.conftest import short_tmpdir
from tests.feed.test_timeline import seed_articles
from tests.helpers import Ingest, article, empty_store, eventually, raw_get
from tests.procs import Stack, free_port

pytestmark = pytest.mark.browser

BUDGET_GZIP_BYTES = 16 * 1024  # 12 KB before issue 27 (the summary, permalinks, ...)
NEWS = "livefeed-column[section=news]"
EXCLUSIVE = "livefeed-column[label=exclusive]"
SECTION_NAMES = "news=Latest news,world=World"
IDS_JS = "c => [...c.shadowRoot.querySelectorAll('article.item')].map(a => a.dataset.id)"


@dataclass
class Site:
    """The stack, the allowed host and a foreign one."""

    stack: Stack
    redis: redis.Redis
    host: Host
    foreign: Host
    style_hash: str

    @property
    def feed(self) -> str:
        return self.stack.url("feed")

    @property
    def push(self) -> str:
        return f"ws://127.0.0.1:{self.stack.ports['push']}"

    @property
    def push_http(self) -> str:
        """The push port's HTTP side: SSE."""
        return self.stack.url("push")

    def strict_csp(self) -> str:
        """What a careful news site sends: the livefeed lines and nothing inline."""
        return "; ".join(
            (
                "default-src 'none'",
                f"script-src 'self' {self.feed}",
                f"style-src 'self' {self.style_hash}",
                f"connect-src 'self' {self.feed} {self.push} {self.push_http}",
                f"frame-src {self.feed}",
                "img-src 'self' data:",
                "base-uri 'none'",
                "form-action 'self'",
            )
        )

    def script(self) -> str:
        return f'<script type="module" src="{self.feed}/embed.js"></script>'


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """A stack of its own that lets exactly one host origin embed the column."""
    host, foreign = Host().start(), Host().start()
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(
            redis_server.url,
            short_tmpdir(),
            extra_env={
                "LIVEFEED_EMBED_ORIGINS": host.origin,
                "LIVEFEED_INGEST_RATE_LIMIT": "1000000",
                "LIVEFEED_SECTION_NAMES": SECTION_NAMES,
            },
        ).start()
        client = redis.Redis.from_url(redis_server.url)
        try:
            style = httpx.get(stack.url("feed") + "/v1/fragment").headers["livefeed-style-hash"]
            yield Site(stack, client, host, foreign, style)
        finally:
            client.close()
            stack.stop()
            host.stop()
            foreign.stop()


@pytest.fixture
async def fresh_site(site: Site) -> AsyncIterator[Site]:
    """The site with an empty timeline and no pages."""
    empty_store(site.redis)
    for host in (site.host, site.foreign):
        host.pages.clear()
        host.requests.clear()
        host.files = {"/host.css": ("text/css", HOST_CSS)}
        host.csp = site.strict_csp()
    return site


@pytest.fixture
async def ingest(fresh_site: Site, http: httpx.AsyncClient) -> Ingest:
    return Ingest(fresh_site.stack, http)


def csp_errors(page: Page) -> list[str]:
    """Console messages about CSP refusals (the page must cause none)."""
    found: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            found.append(message.text)

    page.on("console", on_console)
    return found


async def ids(page: Page, selector: str) -> list[str]:
    result: list[str] = await page.eval_on_selector(selector, IDS_JS)
    return result


async def live(page: Page, selector: str) -> None:
    await page.wait_for_selector(f"{selector} .conn[data-state=live]", timeout=10_000)


def two_columns(site: Site) -> str:
    return article_page(
        site.script(),
        '<aside aria-label="News"><livefeed-column section="news" limit="10"></livefeed-column>'
        '</aside>\n<aside aria-label="Exclusives"><livefeed-column label="exclusive" limit="10">'
        "</livefeed-column></aside>",
    )


async def retract(ingest: Ingest, article_id: str) -> None:
    response = await ingest.client.delete(
        f"{ingest.base}/v1/articles/{article_id}", headers=ingest.auth
    )
    assert response.status_code == 202, response.text


# -- the element --------------------------------------------------------------------------------


async def test_two_embeds_show_their_own_headlines_live_updated_and_retracted_in_place(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply(
        {
            "articles": [
                article("n1", section="news", published_at="2024-10-24T16:00:00+03:00"),
                article("x1", section="sport", labels=["Exclusive"]),
            ]
        }
    )
    site.host.pages["/article"] = two_columns(site)
    refused = csp_errors(page)
    await page.goto(site.host.origin + "/article")
    await live(page, NEWS)
    await live(page, EXCLUSIVE)
    assert await ids(page, NEWS) == ["n1"]
    assert await ids(page, EXCLUSIVE) == ["x1"]

    both = article("both", section="news", labels=["Exclusive"], title="Both columns",
                   published_at="2024-10-24T18:00:00+03:00")  # fmt: skip
    assert (await ingest.post(both)).status_code == 202
    await page.wait_for_selector(f"{NEWS} [data-id=both]", timeout=1_000)
    await page.wait_for_selector(f"{EXCLUSIVE} [data-id=both]", timeout=1_000)
    assert (await ingest.post(article("only-news", section="news"))).status_code == 202
    await page.wait_for_selector(f"{NEWS} [data-id=only-news]", timeout=1_000)
    assert await ids(page, NEWS) == ["both", "only-news", "n1"]
    assert await ids(page, EXCLUSIVE) == ["both", "x1"]  # the same event, applied at once

    # An update replaces it in place, in both; markup in a title stays text.
    await ingest.apply({**both, "version": 2, "title": "Both columns, updated"})
    for column in (NEWS, EXCLUSIVE):
        await page.wait_for_function(
            "sel => document.querySelector(sel).shadowRoot"
            ".querySelector('[data-id=both] .item-title').textContent === 'Both columns, updated'",
            arg=column,
        )
        badges = await page.eval_on_selector(
            column,
            "c => [...c.shadowRoot.querySelectorAll('[data-id=both] .badge')]"
            ".map(b => b.textContent)",
        )
        assert badges == ["Exclusive", "Updated"]
    assert await ids(page, NEWS) == ["both", "only-news", "n1"]

    # Without the label it leaves the exclusive column only.
    await ingest.apply({**both, "version": 3, "labels": []})
    await page.wait_for_function(
        "sel => !document.querySelector(sel).shadowRoot.querySelector('[data-id=both]')",
        arg=EXCLUSIVE,
    )
    assert await ids(page, NEWS) == ["both", "only-news", "n1"]
    await retract(ingest, "only-news")
    await page.wait_for_function(
        "sel => !document.querySelector(sel).shadowRoot.querySelector('[data-id=only-news]')",
        arg=NEWS,
    )
    assert await ids(page, NEWS) == ["both", "n1"]
    assert await ids(page, EXCLUSIVE) == ["x1"]
    time = page.locator(f"{NEWS} [data-id=n1] time")
    assert await time.get_attribute("datetime") == "2024-10-24T16:00:00+03:00"
    assert "Europe/Kyiv" in (await time.get_attribute("title") or "")
    assert await page.locator(f"{NEWS} [role=status]").get_attribute("aria-live") == "polite"
    assert refused == []


async def test_host_css_does_not_reach_in_and_the_column_css_does_not_leak_out(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply(article("n1", section="news", labels=["Exclusive"], url="https://e.com/1"))
    hostile = "* { color: red !important; font-size: 40px !important }\n"
    site.host.files["/hostile.css"] = ("text/css", hostile)
    link = '<link rel="stylesheet" href="/hostile.css">'
    site.host.pages["/plain"] = article_page(link, "")
    site.host.pages["/embedded"] = article_page(
        link + site.script(),
        '<aside aria-label="News"><livefeed-column section="news"></livefeed-column></aside>',
    )
    outside_js = """() => [document.body, document.querySelector('#outside'),
        document.querySelector('h1')].map(e => {
            const s = getComputedStyle(e);
            return [s.color, s.fontSize, s.fontFamily, s.margin, s.backgroundColor, s.lineHeight];
        })"""
    await page.goto(site.host.origin + "/plain")
    before = await page.evaluate(outside_js)
    await page.goto(site.host.origin + "/embedded")
    await live(page, NEWS)
    assert await page.evaluate(outside_js) == before
    assert before[1][0] == "rgb(255, 0, 0)"  # the host's rule does apply on the host page
    inside = await page.eval_on_selector(
        NEWS,
        """c => ['.item-title', '.item-time', '.day-date', '.column-title', '.badge', '.more',
                 '.pause'].map(s => {
            const st = getComputedStyle(c.shadowRoot.querySelector(s));
            return [s, st.color, st.fontSize];
        })""",
    )
    for selector, color, size in inside:
        assert color != "rgb(255, 0, 0)", (selector, color)
        assert size != "40px", (selector, size)
    # Themable: custom properties and ::part() from the host.
    site.host.files["/theme.css"] = (
        "text/css",
        "livefeed-column { --livefeed-accent: rgb(0, 0, 200) }\n"
        "livefeed-column::part(link) { color: rgb(0, 120, 0) }\n",
    )
    await page.evaluate(
        """() => new Promise(done => {
            const link = Object.assign(document.createElement('link'),
                {rel: 'stylesheet', href: '/theme.css', onload: done});
            document.head.append(link);
        })"""
    )
    assert (
        await page.eval_on_selector(
            NEWS, "c => getComputedStyle(c.shadowRoot.querySelector('.badge')).backgroundColor"
        )
        == "rgb(0, 0, 200)"
    )
    assert (
        await page.eval_on_selector(
            NEWS, "c => getComputedStyle(c.shadowRoot.querySelector('.item-title')).color"
        )
        == "rgb(0, 120, 0)"
    )


async def test_markup_and_javascript_urls_in_a_frame_stay_inert_under_a_strict_csp(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply(article("n1", section="news"))
    sockets: list[Any] = []

    def route(ws: Any) -> None:
        ws.connect_to_server()  # frames pass through both ways; the test adds one of its own
        sockets.append(ws)

    await page.route_web_socket(re.compile(r".*/v1/stream.*"), route)
    site.host.pages["/a"] = article_page(
        site.script(),
        '<aside aria-label="News"><livefeed-column section="news"></livefeed-column></aside>',
    )
    refused = csp_errors(page)
    await page.goto(site.host.origin + "/a")
    await live(page, NEWS)
    evil = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>Evil'
    sockets[0].send(
        json.dumps(
            {
                "type": "published",
                "event_id": "9999999999999-0",
                "headline": {
                    "id": "evil",
                    "title": evil,
                    "url": "javascript:window.pwned=3",
                    "published_at": "2024-10-24T20:00:00+03:00",
                    "date": "2024-10-24",
                    "time": "20:00",
                    "labels": ["exclusive"],
                    "section": "news",
                },
            }
        )
    )
    await page.wait_for_selector(f"{NEWS} [data-id=evil]")
    title = page.locator(f"{NEWS} [data-id=evil] .item-title")
    assert await title.text_content() == evil
    assert await title.evaluate("e => e.tagName") == "SPAN"  # no link for javascript:
    # (The column's own words are a JSON data block, never run: not a script from a title.)
    words = "script:not([type='application/json'][data-lf-messages])"
    assert await page.locator(f"{NEWS} img, {NEWS} {words}").count() == 0
    await title.click()
    assert await page.evaluate("() => window.pwned") is None
    assert refused == []


# -- the fragment and the iframe -------------------------------------------------------------


async def test_fragment_reads_without_javascript_and_hydrates_without_a_second_render(
    browser: Browser, page: Page, fresh_site: Site, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    site = fresh_site
    await ingest.apply({"articles": seed_articles()})
    include = f'<!--#include virtual="{site.feed}/v1/fragment?section=news&limit=10" -->'
    site.host.pages["/ssi"] = article_page(
        site.script(), f'<aside aria-label="News">{include}</aside>'
    )
    fragment = await http.get(f"{site.feed}/v1/fragment?section=news&limit=10")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fragment.text.startswith("<livefeed-column")
    again = await http.get(
        f"{site.feed}/v1/fragment?section=news&limit=10",
        headers={"If-None-Match": fragment.headers["etag"]},
    )
    assert again.status_code == 304

    context = await browser.new_context(java_script_enabled=False)
    try:
        no_js = await context.new_page()
        await no_js.goto(site.host.origin + "/ssi")
        titles = await no_js.locator(f"{NEWS} .item-title").all_text_contents()
        assert len(titles) == 10
        assert titles[0] == seed_articles()[0]["title"]
        assert await no_js.locator(f"{NEWS} .item-title").first.is_visible()
        assert await no_js.locator(f"{NEWS} h3.day-head").first.text_content() == (
            "2024, Thursday 24 October"
        )
    finally:
        await context.close()

    # With JavaScript: the module is held back until the server-rendered items are marked;
    # after it runs they are the same nodes, and no second fragment was fetched.
    release = asyncio.Event()

    async def hold(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await page.route(re.compile(r".*/embed\.[0-9a-f]{12}\.js$"), hold)
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/v1/" in r.url else None)
    await page.goto(site.host.origin + "/ssi", wait_until="domcontentloaded")
    marked = await page.eval_on_selector(
        NEWS,
        "c => { const a = c.shadowRoot.querySelectorAll('article.item');"
        " a.forEach(e => { e.__ssr = true; }); return a.length; }",
    )
    assert marked == 10
    release.set()
    await live(page, NEWS)
    kept = await page.eval_on_selector(
        NEWS, "c => [...c.shadowRoot.querySelectorAll('article.item')].every(e => e.__ssr)"
    )
    assert kept
    assert fetched == []
    await ingest.post(article("after", section="news", published_at="2024-10-24T21:00:00+03:00"))
    await page.wait_for_selector(f"{NEWS} [data-id=after]", timeout=2_000)


async def test_iframe_page_is_framed_by_the_allowed_site_only(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply(article("n1", section="news", url="https://e.com/1"))
    frame_tag = (
        f'<iframe src="{site.feed}/embed?section=news" title="Latest news" '
        'width="400" height="500"></iframe>'
    )
    for host in (site.host, site.foreign):
        host.pages["/framed"] = article_page("", f'<aside aria-label="News">{frame_tag}</aside>')
    await page.goto(site.host.origin + "/framed")
    frame = page.frame_locator("iframe")
    await frame.locator(f"{NEWS} .conn[data-state=live]").wait_for(timeout=10_000)
    link = frame.locator(f"{NEWS} [data-id=n1] a.item-title")
    assert await link.get_attribute("href") == "https://e.com/1"
    assert await frame.locator("base").get_attribute("target") == "_top"

    await page.goto(site.foreign.origin + "/framed")
    child = page.frames[-1]
    await page.wait_for_function(
        "() => document.querySelector('iframe') !== null"
    )  # the element is there; its document is refused by frame-ancestors
    blocked = await eventually(lambda: _frame_blocked(page), 10, "the frame blocked", 0.05)
    assert blocked, child.url


async def _frame_blocked(page: Page) -> bool:
    frames = page.frames
    return len(frames) > 1 and frames[1].url.startswith("chrome-error://")


# -- cross-origin rules ------------------------------------------------------------------------


async def test_only_the_embed_origins_get_cors_and_the_websocket(
    fresh_site: Site, http: httpx.AsyncClient
) -> None:
    site = fresh_site
    for path in ("/v1/timeline", "/v1/fragment"):
        allowed = await http.get(site.feed + path, headers={"Origin": site.host.origin})
        assert allowed.headers["access-control-allow-origin"] == site.host.origin, path
        assert "Origin" in allowed.headers["vary"]
        foreign = await http.get(site.feed + path, headers={"Origin": site.foreign.origin})
        assert "access-control-allow-origin" not in foreign.headers, path
        assert "Origin" in foreign.headers["vary"]
    # The module is public code: any site may load it (so the element can say it is refused).
    for origin in (site.host.origin, site.foreign.origin):
        module = await http.get(site.feed + "/embed.js", headers={"Origin": origin})
        assert module.headers["access-control-allow-origin"] == "*"
    # SSE is on the push port, next to the WebSocket: the same allowlist. (EventSource sends no
    # preflight, Last-Event-ID included, so none is needed.)
    async with http.stream(
        "GET", site.push_http + "/v1/events", headers={"Origin": site.host.origin}
    ) as events:
        assert events.status_code == 200
        assert events.headers["access-control-allow-origin"] == site.host.origin
        assert "*" not in str(events.headers)
    foreign = await http.get(site.push_http + "/v1/events", headers={"Origin": site.foreign.origin})
    assert foreign.status_code == 403
    assert "access-control-allow-origin" not in foreign.headers

    ws_url = site.push + "/v1/stream"
    async with websockets.connect(ws_url, origin=site.host.origin, open_timeout=5) as ws:  # type: ignore[arg-type]
        assert json.loads(await ws.recv())["type"] == "hello"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(ws_url, origin=site.foreign.origin, open_timeout=5):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403


async def test_a_refused_site_gets_one_console_warning_naming_its_origin_and_the_setting(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    """The element cannot read why a CORS fetch failed; it asks again without CORS, and an
    (opaque) answer means the server is up and refused the origin: one warning, whatever the
    number of columns. An unreachable server is not blamed on the origin."""
    site = fresh_site
    await ingest.apply(article("n1", section="news"))
    warnings: list[str] = []
    page.on(
        "console",
        lambda m: warnings.append(m.text) if m.type == "warning" and "livefeed" in m.text else None,
    )
    site.foreign.pages["/a"] = two_columns(site)
    await page.goto(site.foreign.origin + "/a")
    for column in (NEWS, EXCLUSIVE):  # each knows why (the warning is said before)
        await page.wait_for_selector(f"{column}[data-error=origin]", state="attached")
    await eventually(async_len(warnings, 1), 5, "the console warning")
    await page.evaluate("() => new Promise((done) => setTimeout(done, 0))")  # console flushed
    assert warnings == [
        f"livefeed: {site.foreign.origin} is not allowed to embed this column: add it to "
        f"LIVEFEED_EMBED_ORIGINS on the livefeed server ({site.feed})"
    ]
    assert await page.locator(f"{NEWS} article.item").count() == 0  # still no data for it

    # The allowed site hears nothing; a column whose server is down does not blame the origin.
    warnings.clear()
    dead = f"http://127.0.0.1:{free_port()}/v1/fragment"
    site.host.pages["/b"] = article_page(
        site.script(),
        '<aside aria-label="News"><livefeed-column section="news"></livefeed-column></aside>'
        f'<aside aria-label="Down"><livefeed-column id="down" data-fragment-url="{dead}">'
        "</livefeed-column></aside>",
    )
    site.host.csp = site.strict_csp().replace("connect-src", f"connect-src {dead}")
    unreachable: list[str] = []
    page.on("requestfailed", lambda r: unreachable.append(r.url) if r.url == dead else None)
    await page.goto(site.host.origin + "/b")
    await live(page, NEWS)
    await eventually(async_len(unreachable, 2), 10, "the fetch, then the one without CORS")
    await page.wait_for_selector("#down[data-error=true]", state="attached")
    await page.evaluate("() => new Promise((done) => setTimeout(done, 0))")  # console flushed
    assert warnings == []


def async_len(items: list[Any], count: int) -> Callable[[], Awaitable[bool]]:
    """A condition for ``eventually``: ``items`` holds ``count`` entries."""

    async def check() -> bool:
        return len(items) >= count

    return check


# -- budgets -------------------------------------------------------------------------------------


async def test_embed_js_stays_within_its_gzip_budget(
    fresh_site: Site, http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    first = await http.get(fresh_site.feed + "/embed.js")
    assert first.status_code == 302
    hashed = first.headers["location"]
    assert re.fullmatch(r"/embed\.[0-9a-f]{12}\.js", hashed)
    module = await http.get(fresh_site.feed + hashed)
    assert module.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert module.headers["content-type"].startswith("text/javascript")
    # The bytes on the wire: the feed sends the module gzipped to browsers (compressed once).
    packed, wire = await raw_get(http, fresh_site.feed + hashed, "gzip, deflate, br")
    assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(wire) == module.content
    size = len(wire)
    with capsys.disabled():
        print(f"\nembed.js: {len(module.content)} bytes, {size} bytes gzipped as served "
              f"(budget {BUDGET_GZIP_BYTES})")  # fmt: skip
    assert size <= BUDGET_GZIP_BYTES
    text = module.text
    assert "import " not in text.replace("import.meta", "")  # no dependencies
    # No CDN: the only URLs are this service's own (feed, and push for SSE).
    own = text.replace(fresh_site.feed, "").replace(fresh_site.push_http, "")
    assert "http" not in own.replace("https?:", "")


async def test_first_paint_comes_from_one_fragment_request(
    page: Page, fresh_site: Site, ingest: Ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    site = fresh_site
    await ingest.apply({"articles": seed_articles()[:12]})
    for a in seed_articles()[:12]:
        await ingest.apply({**a, "section": "news", "version": 5})
    site.host.pages["/a"] = article_page(
        site.script(),
        '<aside aria-label="News"><livefeed-column section="news"></livefeed-column></aside>',
    )
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.url.startswith(site.feed) else None)
    await page.goto(site.host.origin + "/a")
    await page.wait_for_selector(f"{NEWS}[data-ready]")
    painted = await page.locator(f"{NEWS} article.item").count()
    data = [u for u in seen if "/v1/" in u]
    with capsys.disabled():
        print(f"\nfirst paint: {len(seen)} requests to livefeed {seen}")
    assert painted == 10
    assert len(data) == 1, seen
    assert "/v1/fragment?section=news" in data[0]
    assert len(seen) == 3  # /embed.js → /embed.<hash>.js, then the fragment


# -- accessibility -----------------------------------------------------------------------------


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    results = await Axe().run(page)
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
    ]


async def test_axe_finds_nothing_on_the_live_page_the_iframe_page_and_a_host_with_two_embeds(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply({"articles": [{**a, "section": "news"} for a in seed_articles()[:15]]})
    await page.goto(site.feed + "/")
    await page.wait_for_selector("#conn[data-state=live]")
    assert await axe_violations(page) == []
    await page.goto(site.feed + "/embed?section=news")
    await live(page, NEWS)
    assert await axe_violations(page) == []
    site.host.pages["/article"] = two_columns(site)
    await page.goto(site.host.origin + "/article")
    await live(page, NEWS)
    await live(page, EXCLUSIVE)
    assert await axe_violations(page) == []


PAPER_JS = "c => getComputedStyle(c.shadowRoot.querySelector('.column')).backgroundColor"
BODY_JS = "() => getComputedStyle(document.body).backgroundColor"


def dark(rgb: str) -> bool:
    """Whether a computed ``rgb(…)`` colour is a dark one."""
    red, green, blue = (int(v) for v in re.findall(r"\d+", rgb)[:3])
    return red + green + blue < 3 * 64


async def test_dark_scheme_on_page_and_embed_overridable_and_axe_finds_nothing_dark_or_rtl(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    articles = [{**a, "section": "news"} for a in seed_articles()[:15]]
    articles[0] = {**articles[0], "pinned": True, "labels": ["breaking"]}
    await ingest.apply({"articles": articles})
    await page.emulate_media(color_scheme="dark")
    await page.goto(site.feed + "/")
    await page.wait_for_selector("#conn[data-state=live]")
    assert dark(await page.eval_on_selector("#live", PAPER_JS))
    assert dark(await page.evaluate(BODY_JS))
    assert await axe_violations(page) == []
    # Right to left (what a right-to-left language's messages blob gives), light and dark.
    await page.evaluate("() => { document.documentElement.dir = 'rtl'; live.dir = 'rtl'; }")
    assert await axe_violations(page) == []
    await page.emulate_media(color_scheme="light")
    assert await axe_violations(page) == []
    await page.emulate_media(color_scheme="dark")
    await page.goto(site.feed + "/embed?section=news")
    await live(page, NEWS)
    assert dark(await page.eval_on_selector(NEWS, PAPER_JS))
    assert dark(await page.evaluate(BODY_JS))  # the iframe page's canvas follows
    assert await axe_violations(page) == []
    site.host.pages["/article"] = two_columns(site)
    await page.goto(site.host.origin + "/article")
    await live(page, NEWS)
    await live(page, EXCLUSIVE)
    assert dark(await page.eval_on_selector(NEWS, PAPER_JS))
    # The host's own colours still win over the dark defaults.
    site.host.files["/theme.css"] = (
        "text/css",
        "body { background: rgb(255, 250, 240) }\n"
        "livefeed-column { --livefeed-paper: rgb(255, 250, 240); --livefeed-ink: rgb(20, 20, 20);"
        " --livefeed-muted: rgb(90, 90, 90); --livefeed-time: rgb(160, 10, 30) }\n",
    )
    await page.evaluate(
        """() => new Promise(done => {
            const link = Object.assign(document.createElement('link'),
                {rel: 'stylesheet', href: '/theme.css', onload: done});
            document.head.append(link);
        })"""
    )
    assert await page.eval_on_selector(NEWS, PAPER_JS) == "rgb(255, 250, 240)"
    assert await page.eval_on_selector(
        NEWS, "c => getComputedStyle(c.shadowRoot.querySelector('.item-title')).color"
    ) == "rgb(20, 20, 20)"  # fmt: skip
    # The light scheme is as it was.
    await page.emulate_media(color_scheme="light")
    await page.goto(site.feed + "/embed?section=news")
    await live(page, NEWS)
    assert await page.eval_on_selector(NEWS, PAPER_JS) == "rgb(255, 255, 255)"


BADGE_JS = """c => {
    const b = c.shadowRoot.querySelector('.badge-breaking'), s = getComputedStyle(b);
    const box = b.getBoundingClientRect();
    return [b.textContent, s.backgroundColor, s.color, s.fontSize, s.fontWeight, s.fontFamily,
        s.textTransform, s.letterSpacing, s.padding, s.borderRadius, s.boxShadow,
        Math.round(box.width), Math.round(box.height)];
}"""


async def test_the_breaking_badge_is_drawn_the_same_on_the_page_and_in_every_embed(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply(article("b1", section="news", labels=["breaking"]))
    await page.goto(site.feed + "/")
    await page.wait_for_selector("#conn[data-state=live]")
    on_page = await page.eval_on_selector("#live", BADGE_JS)
    assert on_page[0] == "Breaking"
    assert on_page[6] == "uppercase"
    await page.goto(site.feed + "/embed?section=news")
    await live(page, NEWS)
    assert await page.eval_on_selector(NEWS, BADGE_JS) == on_page
    site.host.pages["/article"] = two_columns(site)
    await page.goto(site.host.origin + "/article")
    await live(page, NEWS)
    assert await page.eval_on_selector(NEWS, BADGE_JS) == on_page
    # One that arrives live is drawn the same too.
    await ingest.apply(
        article("b2", section="news", labels=["breaking"], published_at="2024-10-24T20:00:00+03:00")
    )
    await page.wait_for_selector(f"{NEWS} [data-id=b2]")
    live_badge = BADGE_JS.replace(".badge-breaking", "[data-id=b2] .badge-breaking")
    assert await page.eval_on_selector(NEWS, live_badge) == on_page


# -- one connection per reader ---------------------------------------------------------------


def push_clients(site: Site) -> int:
    """``livefeed_push_clients`` from the push service's /metrics, both transports."""
    text = httpx.get(f"{site.push_http}/metrics", timeout=5).text
    found = re.findall(r'^livefeed_push_clients\{transport="\w+"\} ([0-9.]+)$', text, re.MULTILINE)
    assert found, text
    return sum(int(float(count)) for count in found)


async def wait_until(condition: Any, timeout: float) -> float:
    """Poll an async condition; the seconds it took (fails after ``timeout``)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    await eventually(condition, timeout)
    return loop.time() - start


async def test_tabs_share_one_connection_and_hand_it_over_when_the_leader_goes(
    browser: Browser, fresh_site: Site, ingest: Ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    site = fresh_site
    await ingest.apply(article("n1", section="news"))
    site.host.pages["/article"] = two_columns(site)
    context = await browser.new_context()
    try:
        tabs = [await context.new_page() for _ in range(3)]
        for tab in tabs:
            await tab.goto(site.host.origin + "/article")
            await live(tab, NEWS)
            await live(tab, EXCLUSIVE)

        async def one_client() -> bool:
            return await asyncio.to_thread(push_clients, site) == 1

        await wait_until(one_client, 5)
        roles = [await t.get_attribute(NEWS, "data-connection") for t in tabs]
        assert sorted(roles) == ["follower", "follower", "leader"], roles
        await ingest.apply(article("shared", section="news", labels=["exclusive"]))
        for tab in tabs:
            await tab.wait_for_selector(f"{NEWS} [data-id=shared]", timeout=2_000)
            await tab.wait_for_selector(f"{EXCLUSIVE} [data-id=shared]", timeout=2_000)

        # The leader tab closes; a post made during the hand-over reaches every tab once.
        leader = tabs[roles.index("leader")]
        rest = [t for t in tabs if t is not leader]
        await leader.close()
        posted = asyncio.create_task(
            ingest.post(
                article("handover", section="news", published_at="2024-10-24T18:00:00+03:00")
            )
        )

        async def taken_over() -> bool:
            marks = [await t.get_attribute(NEWS, "data-connection") for t in rest]
            return "leader" in marks and await asyncio.to_thread(push_clients, site) == 1

        took = await wait_until(taken_over, 2)
        assert (await posted).status_code == 202
        for tab in rest:
            await tab.wait_for_selector(f"{NEWS} [data-id=handover]", timeout=3_000)
            assert await ids(tab, NEWS) == ["handover", "shared", "n1"]
            assert await ids(tab, EXCLUSIVE) == ["shared"]
        with capsys.disabled():
            print(f"\nhand-over after the leader tab closed: {took:.2f} s")

        # A leader being frozen (a background tab the browser suspends) hands over on the
        # page lifecycle's "freeze" event and catches up on "resume". Headless Chromium does not
        # fire "freeze" through CDP's Page.setWebLifecycleState, so the events are dispatched.
        roles = [await t.get_attribute(NEWS, "data-connection") for t in rest]
        frozen = rest[roles.index("leader")]
        other = rest[1 - roles.index("leader")]
        await frozen.evaluate("() => document.dispatchEvent(new Event('freeze'))")

        async def other_leads() -> bool:
            return await other.get_attribute(NEWS, "data-connection") == "leader"

        await wait_until(other_leads, 2)
        await ingest.apply(article("after-freeze", section="news"))
        await other.wait_for_selector(f"{NEWS} [data-id=after-freeze]", timeout=2_000)
        await frozen.evaluate("() => document.dispatchEvent(new Event('resume'))")
        await frozen.wait_for_selector(f"{NEWS} [data-id=after-freeze]", timeout=3_000)
        assert (await ids(frozen, NEWS)).count("after-freeze") == 1
        await wait_until(one_client, 5)
    finally:
        await context.close()


async def test_a_correction_shows_in_the_embed_with_its_note_and_is_announced(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply(article("c-1", section="news", title="Summit on Thursday", version=1))
    site.host.pages["/article"] = two_columns(site)
    await page.goto(site.host.origin + "/article")
    await live(page, NEWS)
    note = "The summit is on Friday, not <i>Thursday</i>."
    response = await ingest.post(
        article(
            "c-1",
            section="news",
            title="Summit on Friday",
            version=2,
            correction=note.replace("<", "&lt;").replace(">", "&gt;"),
        )
    )
    assert response.status_code == 202
    await page.wait_for_function(
        "sel => document.querySelector(sel).shadowRoot.querySelector('[data-id=c-1] .correction')",
        arg=NEWS,
        timeout=1_000,
    )
    shown = await page.eval_on_selector(
        NEWS,
        """c => {
            const item = c.shadowRoot.querySelector('[data-id=c-1]');
            return {
                time: item.querySelector('.correction-time').textContent,
                text: item.querySelector('.correction-text').textContent,
                markup: item.querySelectorAll('.correction i').length,
                status: c.shadowRoot.querySelector('[role=status]').textContent,
            };
        }""",
    )
    assert shown["time"].startswith("Corrected ")
    assert len(shown["time"]) == len("Corrected 17:40")
    assert shown["text"] == note
    assert shown["markup"] == 0
    assert shown["status"] == f"Corrected: Summit on Friday. {note}"
    # The fragment (first paint, no script) renders the same note.
    fragment = await ingest.client.get(f"{site.feed}/v1/fragment?section=news")
    assert "Corrected " in fragment.text
    assert "The summit is on Friday, not &lt;i&gt;Thursday&lt;/i&gt;." in fragment.text


async def test_the_embed_key_events_toggle_and_pinned_list(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply(
        {
            "articles": [
                article("k1", section="news", labels=["key"], pinned=True),
                article("n1", section="news", published_at="2024-10-24T17:00:00+03:00"),
            ]
        }
    )
    site.host.pages["/article"] = two_columns(site)
    await page.goto(site.host.origin + "/article")
    await live(page, NEWS)
    column = page.locator(NEWS)
    pinned = column.locator(".pinned-items article.item")
    assert await pinned.count() == 1
    assert await column.locator(".pinned-items .badge").all_text_contents() == [
        "Pinned",
        "Key event",
    ]
    toggle = column.get_by_role("button", name="Key events")
    await toggle.click()
    assert await toggle.get_attribute("aria-pressed") == "true"
    assert await column.locator(".timeline [data-id=n1]").is_hidden()
    assert await column.locator(".pinned-items [data-id=k1]").is_visible()
    assert await column.locator("[data-id=k1]").count() == 1  # pinned: shown once
    assert not await column.locator(".key-empty").is_visible()  # the pinned one is a key event
    await ingest.apply(article("n1", section="news", version=2, pinned=True,
                               published_at="2024-10-24T17:00:00+03:00"))  # fmt: skip
    await column.locator(".pinned-items [data-id=n1]").wait_for(state="attached")
    assert await column.locator(".pinned-items [data-id=n1]").is_hidden()  # not a key event


async def test_a_change_delivered_twice_after_a_failover_counts_once_in_the_embed(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    """At least once (docs/reliability.md): the same change again under a new event id, as a
    job re-run on a promoted replica appends it, is counted and announced once."""
    site = fresh_site
    await ingest.apply(article("before", section="news"))
    site.host.pages["/article"] = two_columns(site)
    await page.goto(site.host.origin + "/article")
    await live(page, NEWS)
    pause = page.locator(f"{NEWS} .pause:not(.key-toggle)")
    await pause.click()
    await ingest.apply(article("twice", section="news", published_at="2024-10-24T21:00:00+03:00"))
    [(_, fields)] = site.redis.xrevrange(keys.EVENTS, count=1)
    again = site.redis.xadd(keys.EVENTS, fields).decode()  # what the re-run apply appends
    await page.wait_for_function(
        "([sel, id]) => document.querySelector(sel).dataset.lastEventId === id",
        arg=[NEWS, again],
    )
    assert await pause.text_content() == "Resume live updates (1 new)"
    await pause.click()
    assert await page.locator(f"{NEWS} [role=status]").text_content() == (
        "Live updates resumed: 1 change."
    )
    assert await ids(page, NEWS) == ["twice", "before"]


def news_at(article_id: str, hour: int) -> dict[str, Any]:
    return article(article_id, section="news", published_at=f"2024-10-24T{hour}:00:00+03:00")


async def sidebar_of_two(page: Page, site: Site, ingest: Ingest, ids_by_hour: list[str]) -> None:
    """Headlines at 11:00, 12:00, … and a host page with a ``limit="2"`` news column, live."""
    await ingest.apply({"articles": [news_at(i, 11 + n) for n, i in enumerate(ids_by_hour)]})
    site.host.pages["/side"] = article_page(
        site.script(),
        '<aside aria-label="News"><livefeed-column section="news" limit="2"></livefeed-column>'
        "</aside>",
    )
    await page.goto(site.host.origin + "/side")
    await live(page, NEWS)


async def test_the_column_keeps_its_limit_as_headlines_arrive_and_more_news_goes_on(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    """A sidebar of 2 stays 2 through a burst: the oldest goes, "More news" brings it back; once
    the reader has loaded more, nothing they loaded is taken away."""
    await sidebar_of_two(page, fresh_site, ingest, ["l1", "l2", "l3"])
    assert await ids(page, NEWS) == ["l3", "l2"]
    for n in (4, 5):
        assert (await ingest.post(news_at(f"l{n}", 10 + n))).status_code == 202
    await page.wait_for_function(
        "sel => document.querySelector(sel).shadowRoot.querySelector('[data-id=l5]')", arg=NEWS
    )
    assert await ids(page, NEWS) == ["l5", "l4"]
    more = page.locator(f"{NEWS} .more")
    await more.click()
    await page.wait_for_function(
        "sel => document.querySelector(sel).shadowRoot.querySelectorAll('article.item').length"
        " === 4",
        arg=NEWS,
    )
    assert await ids(page, NEWS) == ["l5", "l4", "l3", "l2"]  # from the last one kept, no gap
    assert (await ingest.post(news_at("l6", 16))).status_code == 202
    await page.wait_for_function(
        "sel => document.querySelector(sel).shadowRoot.querySelector('[data-id=l6]')", arg=NEWS
    )
    assert await ids(page, NEWS) == ["l6", "l5", "l4", "l3", "l2"]


async def test_a_retraction_is_filled_from_the_next_older_headline(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    await sidebar_of_two(page, fresh_site, ingest, ["r1", "r2", "r3", "r4"])
    assert await ids(page, NEWS) == ["r4", "r3"]
    await retract(ingest, "r2")  # below the column: nothing to see, nothing to fill
    await retract(ingest, "r4")
    await page.wait_for_function(
        "sel => [...document.querySelector(sel).shadowRoot.querySelectorAll('article.item')]"
        ".map(a => a.dataset.id).join() === 'r3,r1'",
        arg=NEWS,
    )
    assert await page.locator(f"{NEWS} .more").is_hidden()  # nothing older is left


async def test_more_href_is_the_site_s_own_page_and_one_that_leaves_the_site_shows_nothing(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    """Issue 21, finding 10: the element links to the ``more-href`` the server checked (and put
    in the link); ``/\\evil.example/x``, which a browser reads as ``//evil.example/x``, is
    refused by the server, so that column shows no link at all."""
    await ingest.apply({"articles": [news_at(i, 11 + n) for n, i in enumerate(["m1", "m2", "m3"])]})
    fresh_site.host.pages["/more"] = article_page(
        fresh_site.script(),
        '<aside aria-label="News"><livefeed-column section="news" limit="2" more-href="/news">'
        '</livefeed-column></aside>\n<aside aria-label="Elsewhere"><livefeed-column '
        'label="exclusive" more-href="/\\evil.example/x"></livefeed-column></aside>',
    )
    await page.goto(fresh_site.host.origin + "/more")
    await live(page, NEWS)
    assert await ids(page, NEWS) == ["m3", "m2"]
    link = await page.eval_on_selector(NEWS, "c => c.shadowRoot.querySelector('.more').href")
    assert link == fresh_site.host.origin + "/news"  # the site's own page, on the site's origin
    await page.wait_for_selector(f"{EXCLUSIVE}[data-error=true]", state="attached")
    links = await page.eval_on_selector(
        EXCLUSIVE, "c => [...(c.shadowRoot?.querySelectorAll('a') ?? [])].map(a => a.href)"
    )
    assert not [href for href in links if "evil.example" in href]


# -- columns that explain themselves (issue 22) -----------------------------------------------

COLUMN_KINDS = ["page", "element", "iframe"]


async def open_column(page: Page, site: Site, kind: str) -> Locator:
    """The news column as one of its three readers gets it: the live page, the element on the
    site's page, or the iframe on it. Returns the column to look into."""
    if kind == "page":
        await page.goto(site.feed + "/?section=news")
        return page.locator("#live")
    if kind == "element":
        site.host.pages["/col"] = article_page(
            site.script(),
            '<aside aria-label="News"><livefeed-column section="news"></livefeed-column></aside>',
        )
        await page.goto(site.host.origin + "/col")
        return page.locator(NEWS)
    site.host.pages["/col"] = article_page(
        "",
        f'<aside aria-label="News"><iframe src="{site.feed}/embed?section=news" '
        'title="Latest news" width="400" height="600"></iframe></aside>',
    )
    await page.goto(site.host.origin + "/col")
    return page.frame_locator("iframe").locator(NEWS)


@pytest.mark.parametrize("kind", COLUMN_KINDS)
async def test_with_websockets_blocked_each_column_goes_live_over_sse(
    page: Page, fresh_site: Site, ingest: Ingest, kind: str
) -> None:
    """A proxy that breaks WebSockets: every attempt, in the page and in frames, is closed
    before any message. Each column switches to SSE, which its page's policy allows."""

    async def broken(ws: WebSocketRoute) -> None:
        await ws.close(code=1011, reason="proxy says no")

    await page.context.route_web_socket("**/v1/stream*", broken)
    sse: list[str] = []
    page.on("request", lambda r: sse.append(r.url) if "/v1/events" in r.url else None)
    refused = csp_errors(page)
    column = await open_column(page, fresh_site, kind)
    await column.locator(".conn[data-state=live]").wait_for(timeout=10_000)
    assert sse, "the column went live without SSE"
    await ingest.post(article("after-load", section="news", title="Carried by SSE"))
    await column.locator("[data-id=after-load] .item-title").wait_for(timeout=2_000)
    assert await column.locator("[data-id=after-load] .item-title").text_content() == (
        "Carried by SSE"
    )
    assert refused == []


async def test_the_heading_attribute_else_the_section_s_name_else_news(
    page: Page, fresh_site: Site
) -> None:
    site = fresh_site
    site.host.pages["/h"] = article_page(
        site.script(),
        '<aside aria-label="News"><livefeed-column section="news"></livefeed-column></aside>'
        '<aside aria-label="World"><livefeed-column section="world" '
        'heading="Ukraine &lt;live&gt; &amp; more"></livefeed-column></aside>'
        '<aside aria-label="Exclusives"><livefeed-column label="exclusive"></livefeed-column>'
        "</aside>",
    )
    await page.goto(site.host.origin + "/h")
    titles = page.locator("livefeed-column .column-title")
    await expect(titles).to_have_text(["Latest news", "Ukraine <live> & more", "News"])
    assert await page.locator("livefeed-column .column-title b, livefeed-column live").count() == 0
    await page.eval_on_selector(NEWS, "c => c.setAttribute('heading', 'Kyiv, live')")
    await expect(page.locator(f"{NEWS} .column-title")).to_have_text("Kyiv, live")


@pytest.mark.parametrize("kind", COLUMN_KINDS)
async def test_an_empty_column_says_so_and_key_events_too_live(
    page: Page, fresh_site: Site, ingest: Ingest, kind: str
) -> None:
    column = await open_column(page, fresh_site, kind)
    await column.locator(".conn[data-state=live]").wait_for(timeout=10_000)
    empty, key_empty = column.locator(".empty"), column.locator(".key-empty")
    toggle = column.locator(".key-toggle")
    await expect(empty).to_be_visible()
    await expect(empty).to_contain_text("No headlines yet")
    await expect(key_empty).to_be_hidden()
    assert await empty.get_attribute("role") is None  # a paragraph, not announced again

    await toggle.click()  # "Key events" with none: says so, instead of "No headlines yet"
    await expect(key_empty).to_be_visible()
    await expect(key_empty).to_contain_text("No key events yet")
    await expect(empty).to_be_hidden()
    await ingest.post(article("plain", section="news"))
    await column.locator("[data-id=plain]").wait_for(state="attached")
    await expect(key_empty).to_be_visible()  # a headline, but still no key event
    await ingest.post(article("key-1", section="news", labels=["key"]))
    await expect(column.locator("[data-id=key-1]")).to_be_visible()
    await expect(key_empty).to_be_hidden()
    await retract(ingest, "key-1")
    await expect(key_empty).to_be_visible()

    await toggle.click()
    await expect(key_empty).to_be_hidden()
    await expect(empty).to_be_hidden()  # "plain" is there
    await retract(ingest, "plain")
    await expect(empty).to_be_visible()  # the last one went: empty again
    await ingest.post(article("again", section="news"))
    await expect(empty).to_be_hidden()


# -- editions ----------------------------------------------------------------------------------


async def test_an_embed_with_lang_uk_is_the_ukrainian_edition_on_its_stream(
    page: Page, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    uk = [
        {**a, "id": f"uk-{i}", "language": "uk", "title": f"uk {a['title']}"}
        for i, a in enumerate(seed_articles()[:12])
    ]
    await ingest.apply({"articles": seed_articles()[:12] + uk})
    site.host.pages["/article"] = article_page(
        site.script(),
        '<aside aria-label="Новини"><livefeed-column lang="uk-UA" limit="10">'
        "</livefeed-column></aside>",
    )
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    await page.goto(site.host.origin + "/article")
    await live(page, "livefeed-column")
    column = "livefeed-column"
    assert await ids(page, column) == [f"uk-{i}" for i in range(10)]
    heads = await page.eval_on_selector(
        column,
        "c => [...c.shadowRoot.querySelectorAll('.day-head')].map(h => [h.querySelector("
        "'.day-year').textContent, h.querySelector('.day-date').textContent])",
    )
    assert heads[0] == ["2024, четвер", "24 жовтня"]
    assert (
        await page.eval_on_selector(column, "c => c.shadowRoot.querySelector('.more').textContent")
        == "Більше новин"
    )
    # One connection, to the edition's stream.
    assert [parse_qs(urlsplit(url).query)["lang"] for url in sockets] == [["uk"]]

    english = article("en-live", title="English only", published_at="2024-10-24T20:00:00+03:00")
    assert (await ingest.post(english)).status_code == 202
    ukrainian = article("uk-live", title="Наживо", language="uk",
                        published_at="2024-10-24T20:05:00+03:00")  # fmt: skip
    assert (await ingest.post(ukrainian)).status_code == 202
    await page.wait_for_selector(f"{column} [data-id=uk-live]")
    day = await page.eval_on_selector(
        f"{column} [data-id=uk-live]",
        "a => a.closest('section.day').querySelector('.day-date').textContent",
    )
    assert day == "24 жовтня"
    assert "en-live" not in await ids(page, column)
