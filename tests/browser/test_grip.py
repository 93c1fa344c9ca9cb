"""The browser client through a GRIP proxy (a real Pushpin): the live page and the embed,
unchanged, with every connection on Pushpin's port.

The stack runs with ``LIVEFEED_GRIP`` on, ``LIVEFEED_GRIP_KEY`` set (feed refuses requests
without Pushpin's ``Grip-Sig``) and ``LIVEFEED_PUBLIC_FEED_URL`` = Pushpin's URL; the
grip-publisher publishes to Pushpin. Chromium only ever talks to Pushpin (and the host site): the
page, the API and the stream, which the column reads as SSE there (GRIP's reliable mode; it
opens no WebSocket behind a GRIP proxy: services/feed/column.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Locator, Page, Request, WebSocket

from shared.redis_server import EmbeddedRedis
from tests.browser.embedhost import HOST_CSS, Host, article_page
from tests.browser.test_embed import csp_errors
from tests.conftest import short_tmpdir
from tests.helpers import Ingest, article
from tests.procs import Stack, free_port
from tests.pushpin import Pushpin

pytestmark = pytest.mark.browser

NEWS = "livefeed-column[section=news]"


@dataclass
class GripSite:
    """A GRIP stack behind Pushpin, and a news site on another origin that embeds the column.
    Its tests share it (and the publisher's state, as a site's readers do): each posts ids of
    its own."""

    stack: Stack
    pushpin: Pushpin
    host: Host

    @property
    def url(self) -> str:
        """Where browsers go: Pushpin."""
        return self.pushpin.url

    @property
    def ws(self) -> str:
        return "ws://" + urlsplit(self.pushpin.url).netloc

    def direct_ports(self) -> set[int]:
        """The livefeed services' own ports: a browser behind Pushpin never connects to them."""
        return set(self.stack.ports.values())

    def host_csp(self, style_hash: str) -> str:
        """A careful news site's policy: livefeed is Pushpin's origin, and nothing inline."""
        return "; ".join(
            (
                "default-src 'none'",
                f"script-src 'self' {self.url}",
                f"style-src 'self' {style_hash}",
                f"connect-src 'self' {self.url} {self.ws}",
                "img-src 'self' data:",
                "base-uri 'none'",
            )
        )


@pytest.fixture(scope="module")
def grip_site() -> Iterator[GripSite]:
    """feed (LIVEFEED_GRIP, a key) behind a keyed Pushpin; grip-publisher publishing to it."""
    key = secrets.token_urlsafe(32)
    host = Host().start()
    feed_port = free_port()
    workdir = short_tmpdir()
    # Pushpin's ports are known before it starts: the stack names Pushpin as its public URL.
    pushpin = Pushpin(workdir, feed_port, sig_key=key)
    publisher_port = free_port()
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(
            redis_server.url,
            workdir,
            ports={"feed": feed_port},
            extra_env={
                "LIVEFEED_GRIP": "1",
                "LIVEFEED_GRIP_KEY": key,
                "LIVEFEED_PUBLIC_FEED_URL": pushpin.url,
                "LIVEFEED_EMBED_ORIGINS": host.origin,
                "LIVEFEED_INGEST_RATE_LIMIT": "1000000",
            },
        )
        try:
            stack.start()
            pushpin.start()
            stack.start_service(
                "grip-publisher",
                LIVEFEED_GRIP_PUBLISH=pushpin.publish_url,
                LIVEFEED_GRIP_PUBLISHER_PORT=str(publisher_port),
            )
            stack.ports["grip-publisher"] = publisher_port
            stack.wait_healthy("grip-publisher")
            yield GripSite(stack, pushpin, host)
        finally:
            stack.stop()
            pushpin.stop()
            host.stop()


@pytest.fixture
def site(grip_site: GripSite) -> GripSite:
    """The GRIP site with a host that serves no page yet."""
    grip_site.host.pages.clear()
    grip_site.host.files = {"/host.css": ("text/css", HOST_CSS)}
    return grip_site


@pytest.fixture
def ingest(site: GripSite, http: httpx.AsyncClient) -> Ingest:
    return Ingest(site.stack, http)


def record_connections(page: Page) -> tuple[list[str], list[str]]:
    """Every URL the page requests and every WebSocket it opens, in its frames too."""
    requests: list[str] = []
    sockets: list[str] = []

    def on_request(request: Request) -> None:
        requests.append(request.url)

    def on_socket(socket: WebSocket) -> None:
        sockets.append(socket.url)

    page.on("request", on_request)
    page.on("websocket", on_socket)
    return requests, sockets


async def retract(ingest: Ingest, article_id: str) -> None:
    response = await ingest.client.delete(
        f"{ingest.base}/v1/articles/{article_id}", headers=ingest.auth
    )
    assert response.status_code == 202, response.text


async def post_update_retract(ingest: Ingest, scope: Page | Locator, items: str) -> None:
    """A headline posted appears at the top, its update replaces it, its retraction removes it;
    ``items`` selects the column's headlines (newest first) in ``scope``. The ids are new to
    the stack (the tests share it, and the publisher's state, as a site would)."""
    run = secrets.token_hex(3)
    one, two = f"{run}-1", f"{run}-2"

    async def shown() -> list[str]:
        ids: list[str] = await scope.locator(items).evaluate_all(
            "els => els.map(e => e.dataset.id)"
        )
        return ids

    first = article(one, section="news", title="First through Pushpin",
                    published_at="2024-10-24T16:00:00+03:00")  # fmt: skip
    assert (await ingest.post(first)).status_code == 202
    await scope.locator(f"{items}[data-id='{one}']").wait_for(timeout=5_000)
    top = article(two, section="news", title="Breaking through Pushpin",
                  published_at=datetime.now(UTC).isoformat(timespec="seconds"))  # fmt: skip
    assert (await ingest.post(top)).status_code == 202
    await scope.locator(f"{items}[data-id='{two}']").wait_for(timeout=5_000)
    assert (await shown())[0] == two  # at the top

    top.update(title="Breaking through Pushpin, updated", version=2)
    assert (await ingest.post(top)).status_code == 202
    title = scope.locator(f"{items}[data-id='{two}'] .item-title")
    await title.filter(has_text="updated").wait_for(timeout=5_000)
    assert await title.text_content() == "Breaking through Pushpin, updated"
    assert (await shown())[0] == two  # replaced in place
    assert (await shown()).count(two) == 1

    await retract(ingest, two)
    await scope.locator(f"{items}[data-id='{two}']").wait_for(state="detached", timeout=5_000)
    assert one in await shown()


def assert_only_pushpin(site: GripSite, requests: list[str], sockets: list[str]) -> None:
    """The browser reached livefeed through Pushpin alone, never a service's own port."""
    ports = {urlsplit(url).port for url in requests + sockets}
    assert not ports & site.direct_ports(), (requests, sockets)


# -- the live page ------------------------------------------------------------------------------


async def open_page(page: Page, site: GripSite) -> None:
    response = await page.goto(site.url + "/")
    assert response is not None
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert f"connect-src 'self' {site.ws} {site.url}" in csp  # the stream is on Pushpin too
    await page.wait_for_selector("#conn[data-state=live]", timeout=10_000)


async def test_the_live_page_through_pushpin_shows_a_headline_its_update_and_retraction(
    page: Page, site: GripSite, ingest: Ingest
) -> None:
    """Behind a GRIP proxy the column reads SSE (GRIP's reliable mode recovers what the proxy
    missed); it opens no WebSocket there, where the proxy drops a burst it cannot write."""
    requests, sockets = record_connections(page)
    refused = csp_errors(page)
    await open_page(page, site)
    assert await page.get_attribute("#conn", "data-transport") == "sse"
    assert sockets == []
    assert any(url.startswith(site.url + "/v1/events") for url in requests), requests

    await post_update_retract(ingest, page, "#timeline article.item")
    assert await page.get_attribute("#conn", "data-state") == "live"  # never reloaded
    assert_only_pushpin(site, requests, sockets)
    assert refused == []
    # The stream was Pushpin's: feed answered it once, never held it.
    assert "GET /v1/events" in (site.stack.workdir / "feed.log").read_text()


# -- the embed on another origin ----------------------------------------------------------------


async def open_column(page: Page, site: GripSite, http: httpx.AsyncClient) -> Locator:
    style = (await http.get(site.url + "/v1/fragment")).headers["livefeed-style-hash"]
    site.host.csp = site.host_csp(style)
    site.host.pages["/article"] = article_page(
        f'<script type="module" src="{site.url}/embed.js"></script>',
        '<aside aria-label="News"><livefeed-column section="news" limit="10">'
        "</livefeed-column></aside>",
    )
    await page.goto(site.host.origin + "/article")
    column = page.locator(NEWS)
    await column.locator(".conn[data-state=live]").wait_for(timeout=10_000)
    return column


async def test_the_embed_on_another_site_through_pushpin_is_live(
    page: Page, site: GripSite, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    transport = "sse"
    requests, sockets = record_connections(page)
    refused = csp_errors(page)
    column = await open_column(page, site, http)
    assert await column.locator(".conn").get_attribute("data-transport") == transport
    assert sockets == []
    assert any(url.startswith(site.url + "/v1/events") for url in requests), requests

    await post_update_retract(ingest, column, "article.item")
    elsewhere, news = f"sport-{transport}", f"news-{transport}"
    sport = article(elsewhere, section="sport", title="Not this column's")
    assert (await ingest.post(sport)).status_code == 202
    assert (await ingest.post(article(news, section="news"))).status_code == 202
    await column.locator(f"article.item[data-id='{news}']").wait_for(timeout=5_000)
    assert await column.locator(f"[data-id='{elsewhere}']").count() == 0  # the filter holds
    assert_only_pushpin(site, requests, sockets)
    assert refused == []


async def test_two_editions_on_one_page_through_pushpin_each_read_their_own_stream(
    page: Page, site: GripSite, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    """With no WebSocket URL the columns' streams are told apart by their SSE URL: a Ukrainian
    and an English column on one page each get their edition's headlines."""
    style = (await http.get(site.url + "/v1/fragment")).headers["livefeed-style-hash"]
    site.host.csp = site.host_csp(style)
    site.host.pages["/editions"] = article_page(
        f'<script type="module" src="{site.url}/embed.js"></script>',
        '<aside aria-label="Uk"><livefeed-column lang="uk" limit="5"></livefeed-column></aside>'
        '<aside aria-label="En"><livefeed-column lang="en" limit="5"></livefeed-column></aside>',
    )
    requests, _sockets = record_connections(page)
    await page.goto(site.host.origin + "/editions")
    uk, en = page.locator("livefeed-column[lang=uk]"), page.locator("livefeed-column[lang=en]")
    for column in (uk, en):
        await column.locator(".conn[data-state=live]").wait_for(timeout=10_000)
    streams = {url.split("lang=")[1].split("&")[0] for url in requests if "/v1/events" in url}
    assert streams == {"uk", "en"}, requests
    assert (await ingest.post(article("ed-uk", language="uk", title="Київ"))).status_code == 202
    assert (await ingest.post(article("ed-en", language="en", title="Kyiv"))).status_code == 202
    await uk.locator("article.item[data-id='ed-uk']").wait_for(timeout=5_000)
    await en.locator("article.item[data-id='ed-en']").wait_for(timeout=5_000)
    assert await uk.locator("[data-id='ed-en']").count() == 0
    assert await en.locator("[data-id='ed-uk']").count() == 0
