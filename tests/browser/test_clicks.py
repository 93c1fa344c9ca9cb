"""Headline opens in a real Chromium (issue 26): the column's and the teaser's beacon on an
embedding site and on the live page, what is (not) sent and what is (not) kept.

A stack of this module's own lets one host origin embed the column; a second host, not
allowed, includes the same markup server-side (as nginx's SSI would). Articles link to
``https://news.example/…``, which the browser answers 204 (the page stays, so one page can open
several headlines). Readers run a desktop Chrome's user agent: headless Chromium's own says
``HeadlessChrome`` and is not counted (robots are not readers).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis
from playwright.async_api import Browser, BrowserContext, Page, Request, Route

from shared import keys
from shared.redis_server import EmbeddedRedis
from tests.browser.embedhost import HOST_CSS, Host, article_page
from tests.conftest import short_tmpdir
from tests.helpers import Ingest, article, empty_store, eventually
from tests.procs import Stack

pytestmark = pytest.mark.browser

AGENT_MARK = "ReaderMarker/9.1"
READER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    f"Chrome/124.0.0.0 Safari/537.36 {AGENT_MARK}"
)
# Global Privacy Control (Chromium has none of its own: Brave's and Firefox's
# `navigator.globalPrivacyControl`) and Do Not Track, on until the page sets `lfAllow`.
OPT_OUT = {
    "gpc": "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', "
    "{ configurable: true, get: () => !window.lfAllow });",
    "dnt": "Object.defineProperty(Navigator.prototype, 'doNotTrack', "
    "{ configurable: true, get: () => (window.lfAllow ? null : '1') });",
}


@dataclass
class Site:
    stack: Stack
    redis: redis.Redis
    host: Host
    foreign: Host

    @property
    def feed(self) -> str:
        return self.stack.url("feed")


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    host, foreign = Host().start(), Host().start()
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(
            redis_server.url,
            short_tmpdir(),
            extra_env={
                "LIVEFEED_EMBED_ORIGINS": host.origin,
                "LIVEFEED_INGEST_RATE_LIMIT": "1000000",
            },
        ).start()
        client = redis.Redis.from_url(redis_server.url)
        try:
            yield Site(stack, client, host, foreign)
        finally:
            client.close()
            stack.stop()
            host.stop()
            foreign.stop()


@pytest.fixture
def fresh_site(site: Site) -> Site:
    empty_store(site.redis)
    for host in (site.host, site.foreign):
        host.pages.clear()
        host.files = {"/host.css": ("text/css", HOST_CSS)}
    return site


@pytest.fixture
async def ingest(fresh_site: Site, http: httpx.AsyncClient) -> Ingest:
    return Ingest(fresh_site.stack, http)


@dataclass
class Reader:
    """A reader's browser: its context, one tab, and every click beacon it sent."""

    context: BrowserContext
    page: Page
    beacons: list[Request] = field(default_factory=list)
    answered: list[Request] = field(default_factory=list)

    def sent(self) -> list[str]:
        """The article ids the beacons carried, in order."""
        return [json.loads(r.post_data or "{}").get("id") for r in self.beacons]


async def open_reader(browser: Browser, init_script: str | None = None) -> Reader:
    context = await browser.new_context(user_agent=READER_AGENT)
    context.set_default_timeout(10_000)
    if init_script:
        await context.add_init_script(init_script)

    async def story(route: Route) -> None:
        await route.fulfill(status=204)  # the article opens "elsewhere": the page stays

    await context.route("https://news.example/**", story)
    reader = Reader(context, await context.new_page())

    def on_request(request: Request) -> None:
        if request.url.endswith("/v1/clicks"):
            reader.beacons.append(request)

    def on_finished(request: Request) -> None:
        if request.url.endswith("/v1/clicks"):
            reader.answered.append(request)

    context.on("request", on_request)
    context.on("requestfinished", on_finished)
    return reader


@pytest.fixture
async def reader(browser: Browser) -> AsyncIterator[Reader]:
    opened = await open_reader(browser)
    yield opened
    await opened.context.close()


def opens(client: redis.Redis, article_id: str) -> int:
    raw: dict[bytes, bytes] = client.hgetall(keys.clicks_article(article_id))  # type: ignore[assignment]
    return sum(int(n) for n in raw.values())


async def counted(site: Site, article_id: str, times: int = 1, timeout: float = 2.0) -> None:
    """``article_id`` has ``times`` opens in Redis within ``timeout`` seconds."""

    async def done() -> bool:
        return opens(site.redis, article_id) == times

    await eventually(done, timeout, f"{article_id} counted {times} time(s)")


def everything(client: redis.Redis) -> dict[bytes, bytes]:
    """Every key in Redis and all it holds, as bytes (to search for what must not be there)."""
    out: dict[bytes, bytes] = {}
    for name in client.scan_iter(count=1000):
        kind = client.type(name).decode()
        held: Any
        if kind == "string":
            held = client.get(name)
        elif kind == "hash":
            held = sorted(client.hgetall(name).items())  # type: ignore[union-attr]
        elif kind == "list":
            held = client.lrange(name, 0, -1)
        elif kind == "set":
            held = sorted(client.smembers(name))  # type: ignore[type-var]
        elif kind == "zset":
            held = client.zrange(name, 0, -1, withscores=True)
        elif kind == "stream":
            held = client.xrange(name)
        else:
            held = kind
        out[name] = repr(held).encode()
    return out


def host_page(site: Site, body: str) -> str:
    return article_page(f'<script type="module" src="{site.feed}/embed.js"></script>', body)


NEWS = [
    article(f"a{i}", section="news", url=f"https://news.example/a{i}",
            published_at=f"2024-10-24T16:0{i}:00+03:00")
    for i in range(1, 4)
] + [article("w1", section="world", url="https://news.example/w1")]  # fmt: skip


async def test_headlines_opened_on_an_embedding_site_count_once_and_nothing_of_the_reader_is_kept(
    reader: Reader, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply({"articles": NEWS})
    site.host.pages["/story"] = host_page(
        site,
        '<livefeed-column section="news"></livefeed-column>'
        '<livefeed-teaser section="world" href="https://news.example/live"></livefeed-teaser>',
    )
    before = everything(site.redis)
    page = reader.page
    await page.goto(site.host.origin + "/story")
    column, teaser = page.locator("livefeed-column"), page.locator("livefeed-teaser")
    await column.locator("[data-id=a3] .item-title").wait_for()

    # A click: counted within 2 s.
    await column.locator("[data-id=a1] .item-title").click()
    await counted(site, "a1")
    # Again on the same page: a headline is opened once per page view.
    await column.locator("[data-id=a1] .item-title").click()
    # A middle click (a new tab) and Enter on a focused link count too.
    await column.locator("[data-id=a2] .item-title").click(button="middle")
    await counted(site, "a2")
    await column.locator("[data-id=a3] .item-title").focus()
    await page.keyboard.press("Enter")
    await counted(site, "a3")
    # The teaser's links (to the column's page at that headline).
    await teaser.locator("[data-id=w1] a").click()
    await counted(site, "w1")
    assert reader.sent() == ["a1", "a2", "a3", "w1"]
    assert opens(site.redis, "a1") == 1
    for beacon in reader.beacons:  # the id and nothing else, as text/plain (no preflight)
        assert beacon.method == "POST"
        assert beacon.headers["content-type"].startswith("text/plain")
        assert set(json.loads(beacon.post_data or "{}")) == {"id"}

    # No cookie: none in the browser, none offered by any answer of the feed.
    await eventually(_all(reader), 5, "every beacon answered")
    assert await reader.context.cookies() == []
    for request in reader.answered:
        response = await request.response()
        assert response is not None
        assert response.status == 204
        assert await response.header_value("set-cookie") is None
    assert await page.evaluate("document.cookie") == ""

    # Nothing of the reader in Redis: no new key or value holds the address or the agent.
    after = everything(site.redis)
    changed = {k for k, v in after.items() if before.get(k) != v}
    # (The worker's own markers, and push's reader counts, may be written meanwhile, by their
    # clocks: not the click's. They are checked for the reader's traces below all the same.)
    markers = {keys.EDITIONS_INDEXED.encode(), keys.CHANGED.encode()}
    counts = keys.AUDIENCE_PREFIX.encode()
    ours = {k for k in changed if k.startswith(b"lf:") and k not in markers}
    ours = {k for k in ours if not k.startswith(counts)}
    assert all(k.startswith(keys.CLICKS_PREFIX.encode()) for k in ours), ours
    assert {k for k in ours if b":article:" in k} == {
        keys.clicks_article(i).encode() for i in ("a1", "a2", "a3", "w1")
    }
    for name in changed:
        digest = hashlib.sha256(b"127.0.0.1").hexdigest()[:24].encode()  # shared.addresses
        for secret in (
            b"127.0.0.1",
            digest,
            AGENT_MARK.encode(),
            b"Mozilla",
            site.host.origin.encode(),
        ):
            assert secret not in name, name
            assert secret not in after[name], (name, after[name])


def _all(reader: Reader) -> Any:
    async def done() -> bool:
        return len(reader.answered) == len(reader.beacons)

    return done


@pytest.mark.parametrize("opt_out", ["gpc", "dnt"])
async def test_with_global_privacy_control_or_do_not_track_nothing_is_sent(
    browser: Browser, fresh_site: Site, ingest: Ingest, opt_out: str
) -> None:
    site = fresh_site
    await ingest.apply({"articles": NEWS})
    site.host.pages["/story"] = host_page(
        site, '<livefeed-column section="news"></livefeed-column>'
    )
    reader = await open_reader(browser, OPT_OUT[opt_out])
    try:
        page = reader.page
        await page.goto(site.host.origin + "/story")
        column = page.locator("livefeed-column")
        await column.locator("[data-id=a1] .item-title").click()
        await column.locator("[data-id=a2] .item-title").click(button="middle")
        # The reader turns it off; the next open is sent, and it is the first beacon.
        await page.evaluate("window.lfAllow = true")
        await column.locator("[data-id=a3] .item-title").click()
        await counted(site, "a3")
        assert reader.sent() == ["a3"]
        assert opens(site.redis, "a1") == 0
        assert opens(site.redis, "a2") == 0
    finally:
        await reader.context.close()


async def test_a_beacon_from_a_site_that_may_not_embed_the_column_is_not_counted(
    reader: Reader, fresh_site: Site, ingest: Ingest
) -> None:
    site = fresh_site
    await ingest.apply({"articles": NEWS})
    # The foreign site includes the column's markup itself; the module loads anywhere.
    site.foreign.pages["/copy"] = host_page(
        site, f'<!--#include virtual="{site.feed}/v1/fragment?section=news" -->'
    )
    await reader.page.goto(site.foreign.origin + "/copy")
    await reader.page.locator("livefeed-column [data-id=a1] .item-title").click()
    await eventually(_sent_and_answered(reader), 5, "the beacon answered")
    assert reader.sent() == ["a1"]
    assert opens(site.redis, "a1") == 0


def _sent_and_answered(reader: Reader) -> Any:
    async def done() -> bool:
        return bool(reader.beacons) and len(reader.answered) == len(reader.beacons)

    return done


async def test_the_live_page_counts_its_own_headlines_and_an_embed_may_post_json(
    reader: Reader, fresh_site: Site, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    site = fresh_site
    await ingest.apply({"articles": NEWS})
    await reader.page.goto(site.feed + "/")
    await reader.page.locator("#live [data-id=a2] .item-title").click()
    await counted(site, "a2")

    # A script on the embedding site may post JSON (a preflight, answered for that origin).
    site.host.pages["/blank"] = "<!doctype html><title>x</title>"
    await reader.page.goto(site.host.origin + "/blank")
    status = await reader.page.evaluate(
        """url => fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({id: "a1"})}).then(r => r.status)""",
        site.feed + "/v1/clicks",
    )
    assert status == 204
    await counted(site, "a1")
    preflight = await http.options(
        site.feed + "/v1/clicks",
        headers={
            "Origin": site.foreign.origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
