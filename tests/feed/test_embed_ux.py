"""Embeds that explain themselves (issue 22): the iframe page's policy lets it fall back to SSE,
one rule titles every column, and the feed names the sites it refuses in its log.

The browser side (SSE with WebSockets blocked, the element's console warning, the empty states)
is in ``tests/browser/test_embed.py``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.helpers import eventually
from tests.procs import Stack

ALLOWED = "https://allowed.example"
NAMES = "news=Latest news,world=World"


@pytest.fixture(scope="module")
def named() -> Iterator[Stack]:
    """A stack of its own, with section names and one embedding site."""
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(
            redis_server.url,
            short_tmpdir(),
            extra_env={"LIVEFEED_EMBED_ORIGINS": ALLOWED, "LIVEFEED_SECTION_NAMES": NAMES},
        ).start()
        try:
            yield stack
        finally:
            stack.stop()


def connect_src(policy: str) -> list[str]:
    """The sources of a Content-Security-Policy's ``connect-src``."""
    for directive in policy.split(";"):
        name, *sources = directive.split()
        if name == "connect-src":
            return sources
    raise AssertionError(f"no connect-src in {policy!r}")


def title_of(markup: str) -> str:
    """The column's title as a reader sees it (the markup's text, unescaped)."""
    match = re.search(r'<h[1-6] class="column-title"[^>]*>([^<]*)</h[1-6]>', markup)
    assert match, markup[:2000]
    return html.unescape(match.group(1))


# -- the policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/embed?section=news", "/"])
async def test_the_iframe_page_and_the_live_page_may_connect_to_the_websocket_and_to_sse(
    named: Stack, http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(named.url("feed") + path)
    assert response.status_code == 200
    sources = connect_src(response.headers["content-security-policy"])
    push = named.ports["push"]
    assert f"ws://127.0.0.1:{push}" in sources  # the WebSocket
    assert f"http://127.0.0.1:{push}" in sources  # /v1/events, when WebSockets are blocked
    # The module's own SSE URL is one of them (the URL the column falls back to).
    assert f'data-sse-url="http://127.0.0.1:{push}/v1/events"' in response.text


# -- the heading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ({"section": "news"}, "Latest news"),  # never "News · news"
        ({"section": "world"}, "World"),
        ({"section": "sport"}, "News"),  # not in LIVEFEED_SECTION_NAMES
        ({}, "News"),
        ({"label": "exclusive"}, "News"),
        ({"section": "news", "heading": "Ukraine live"}, "Ukraine live"),
        ({"heading": "  <b>Markets</b> & more  "}, "<b>Markets</b> & more"),  # text, trimmed
    ],
)
async def test_the_column_title_is_the_heading_else_the_section_s_name_else_news(
    named: Stack, http: httpx.AsyncClient, query: dict[str, str], title: str
) -> None:
    feed = named.url("feed")
    for path in ("/v1/fragment", "/embed"):
        response = await http.get(feed + path, params=query)
        assert response.status_code == 200, response.text
        assert title_of(response.text) == title, path  # as text: no markup, escaped
    frame = await http.get(feed + "/embed", params=query)
    assert f"<title>{html.escape(title)} — livefeed</title>" in frame.text
    fragment = await http.get(feed + "/v1/fragment", params=query)
    kept = re.search(r'<livefeed-column [^>]*?\sheading="([^"]*)"', fragment.text)
    if "heading" in query:  # the element keeps it (and asks for it again on a reload)
        assert kept
        assert html.unescape(kept.group(1)) == title
    else:
        assert kept is None


@pytest.mark.parametrize(("section", "title"), [("news", "Latest news"), (None, "News")])
async def test_the_live_page_is_titled_by_the_same_rule(
    named: Stack, http: httpx.AsyncClient, section: str | None, title: str
) -> None:
    params = {"section": section} if section else {}
    page = await http.get(named.url("feed") + "/", params=params)
    assert title_of(page.text) == title
    assert f"<title>{title} — livefeed</title>" in page.text


@pytest.mark.parametrize("heading", ["x" * 61, "a\nb", "tab\there", "\x07bell", "zero\u200bwidth"])
@pytest.mark.parametrize("path", ["/v1/fragment", "/embed"])
async def test_a_heading_too_long_or_not_plain_text_is_refused_naming_it(
    named: Stack, http: httpx.AsyncClient, path: str, heading: str
) -> None:
    response = await http.get(named.url("feed") + path, params={"heading": heading})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "heading"
    assert "60" in response.json()["errors"][0]["reason"]


async def test_sixty_characters_are_a_heading(named: Stack, http: httpx.AsyncClient) -> None:
    heading = "Ж" * 60
    response = await http.get(named.url("feed") + "/v1/fragment", params={"heading": heading})
    assert response.status_code == 200
    assert title_of(response.text) == heading


# -- the refused origin in the feed's log ------------------------------------------------------


def refusals(stack: Stack, origin: str) -> int:
    """Lines of the feed's log that name ``origin`` as refused."""
    text = stack.services["feed"].log_path.read_text(errors="replace")
    return sum(
        1
        for line in text.splitlines()
        if "WARNING" in line and "LIVEFEED_EMBED_ORIGINS" in line and f"origin={origin}" in line
    )


async def logged(stack: Stack, origin: str) -> bool:
    """Whether the feed's log names ``origin`` as refused (once)."""
    return refusals(stack, origin) == 1


async def test_a_refused_origin_is_logged_once_a_minute_naming_it(
    named: Stack, http: httpx.AsyncClient
) -> None:
    feed = named.url("feed")
    site, other, marker = "https://site.example", "http://localhost:3000", "https://marker.example"
    for _ in range(5):
        for path in ("/v1/fragment", "/v1/timeline"):
            refused = await http.get(feed + path, headers={"Origin": site})
            assert "access-control-allow-origin" not in refused.headers
    await http.get(feed + "/v1/fragment", headers={"Origin": other})
    await http.get(feed + "/v1/fragment", headers={"Origin": ALLOWED})  # allowed: not logged
    await http.get(feed + "/embed.js", headers={"Origin": site})  # the module answers anyone
    # Log lines are written in order: once the marker's is there, every earlier one is too.
    await http.get(feed + "/v1/fragment", headers={"Origin": marker})
    assert await eventually(lambda: logged(named, marker), 5, "the marker logged")
    assert refusals(named, site) == 1, named.logs()
    assert refusals(named, other) == 1
    assert refusals(named, ALLOWED) == 0
    # The same origin written another way is the same origin (shared.origins).
    await http.get(feed + "/v1/fragment", headers={"Origin": "HTTPS://Site.Example:443"})
    await http.get(feed + "/v1/fragment", headers={"Origin": "https://marker2.example"})
    assert await eventually(lambda: logged(named, "https://marker2.example"), 5, "logged")
    assert refusals(named, site) == 1


async def test_the_module_loads_on_any_site_and_the_data_only_on_the_embed_origins(
    named: Stack, http: httpx.AsyncClient
) -> None:
    feed = named.url("feed")
    redirect = await http.get(feed + "/embed.js", headers={"Origin": "https://site.example"})
    assert redirect.status_code == 302
    assert redirect.headers["access-control-allow-origin"] == "*"
    module = await http.get(feed + redirect.headers["location"], headers={"Origin": ALLOWED})
    assert module.headers["access-control-allow-origin"] == "*"
    data = await http.get(feed + "/v1/fragment", headers={"Origin": ALLOWED})
    assert data.headers["access-control-allow-origin"] == ALLOWED
