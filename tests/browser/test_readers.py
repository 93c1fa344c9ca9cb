"""``<livefeed-column show-readers>`` (issue 26): "12,431 reading now" in the column's language,
from the feed's public count, updated at most every 10 s; nothing shown or fetched without it;
and the tabs a page's leader tab serves, as ``/v1/audience`` counts them.

A stack of this module's own (the public count on) and a news site allowed to embed the column.
Readers elsewhere are a second push process's report in Redis, written as a push process writes
it (docs/operations.md): ``/v1/audience/count`` adds it to this browser's own connection.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
from playwright.async_api import Browser, Page

from shared import keys
from shared.redis_server import EmbeddedRedis
from tests.browser.embedhost import HOST_CSS, Host, article_page
from tests.browser.test_embed import axe_violations
from tests.conftest import short_tmpdir
from tests.helpers import eventually
from tests.procs import Stack

pytestmark = pytest.mark.browser

ELSEWHERE = "elsewhere-1"  # another push process's id
COUNT_PATH = "/v1/audience/count"
POLL_S = 10.0
COLUMN = "livefeed-column"


@dataclass
class Site:
    stack: Stack
    redis: redis.Redis
    host: Host

    @property
    def feed(self) -> str:
        return self.stack.url("feed")

    def page(self, attributes: str) -> str:
        """An article with one embedded column carrying ``attributes``."""
        script = f'<script type="module" src="{self.feed}/embed.js"></script>'
        return article_page(
            script,
            f'<aside aria-label="News"><livefeed-column {attributes}></livefeed-column></aside>',
        )

    def elsewhere(self, readers: int | None) -> None:
        """Another push process reports ``readers`` (None: it is gone)."""
        if readers is None:
            self.redis.delete(keys.audience_process(ELSEWHERE))
            self.redis.zrem(keys.AUDIENCE_PROCESSES, ELSEWHERE)
            return
        report = {"readers": readers, "tabs": readers, "ws": readers, "sse": 0,
                  "groups": [[None, None, None, readers, readers]], "rest": [0, 0]}  # fmt: skip
        self.redis.set(keys.audience_process(ELSEWHERE), json.dumps(report), px=300_000)
        self.redis.zadd(keys.AUDIENCE_PROCESSES, {ELSEWHERE: int(time.time() * 1000)})

    def audience(self) -> dict[str, Any]:
        answer = httpx.get(
            f"{self.feed}/v1/audience", headers={"Authorization": f"Bearer {self.stack.token}"}
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    host = Host().start()
    host.files = {"/host.css": ("text/css", HOST_CSS)}
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(
            redis_server.url,
            short_tmpdir(),
            extra_env={"LIVEFEED_EMBED_ORIGINS": host.origin, "LIVEFEED_AUDIENCE_PUBLIC": "true"},
        ).start()
        client = redis.Redis.from_url(redis_server.url)
        try:
            yield Site(stack, client, host)
        finally:
            client.close()
            stack.stop()
            host.stop()


def count_requests(page: Page) -> list[float]:
    """When the page asked for the public count (monotonic seconds), as it asks."""
    seen: list[float] = []
    page.on("request", lambda r: seen.append(time.monotonic()) if COUNT_PATH in r.url else None)
    return seen


async def shown(page: Page, text: str, timeout: float = 2.5 * POLL_S) -> None:
    """Wait until the column's count reads ``text``."""
    locator = page.locator(f"{COLUMN} .readers")

    async def reads() -> bool:
        return await locator.count() == 1 and await locator.text_content() == text

    await eventually(reads, timeout, f"the count reads {text!r}", interval=0.1)


async def test_the_count_reads_in_english_and_updates_at_most_every_ten_seconds(
    page: Page, site: Site
) -> None:
    site.elsewhere(12_430)
    site.host.pages["/a"] = site.page("show-readers")
    asked = count_requests(page)
    await page.goto(site.host.origin + "/a")
    await page.wait_for_selector(f"{COLUMN} .conn[data-state=live]")
    # 12,430 elsewhere and this page's own connection.
    await shown(page, "12,431 reading now")
    readers = page.locator(f"{COLUMN} .readers")
    assert await readers.get_attribute("part") == "readers"
    # Beside the connection state, in the column's head.
    assert (
        await page.eval_on_selector(
            COLUMN, "c => c.shadowRoot.querySelector('.readers').previousElementSibling.className"
        )
        == "conn"
    )
    site.elsewhere(20_000)
    await shown(page, "20,001 reading now")
    gaps = [later - earlier for earlier, later in itertools.pairwise(asked)]
    assert len(asked) >= 2
    assert min(gaps) >= POLL_S - 0.5, gaps


@pytest.mark.parametrize(
    ("lang", "words", "direction"),
    [("uk", "{n} людина читає зараз", "ltr"), ("ar", "{n} قارئًا الآن", "rtl")],
)
async def test_the_count_reads_in_the_column_s_language_in_the_iframe_page(
    browser: Browser, site: Site, lang: str, words: str, direction: str
) -> None:
    site.elsewhere(12_430)  # 12,431 with this page: Ukrainian "one" (…31), Arabic "many" (…31)
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", locale=lang
    )
    try:
        page = await context.new_page()
        await page.goto(f"{site.feed}/embed?lang={lang}&show-readers=1")
        await page.wait_for_selector(f"{COLUMN}[show-readers] .conn[data-state=live]")
        number = await page.evaluate(f"new Intl.NumberFormat({json.dumps(lang)}).format(12431)")
        await shown(page, words.format(n=number))
        assert await page.get_attribute(COLUMN, "dir") == direction
        assert await axe_violations(page) == []
    finally:
        await context.close()


async def test_without_show_readers_nothing_is_shown_or_fetched(page: Page, site: Site) -> None:
    site.elsewhere(5)
    site.host.pages["/plain"] = site.page('section="news"')
    asked = count_requests(page)
    await page.goto(site.host.origin + "/plain")
    await page.wait_for_selector(f"{COLUMN}[data-ready] .conn[data-state=live]")
    # The count would be asked for as the column binds: it has bound and gone live.
    assert asked == []
    assert await page.locator(f"{COLUMN} .readers").count() == 0
    # Switched on by the page: it shows; off again: it goes, and no more is asked.
    await page.eval_on_selector(COLUMN, "c => c.setAttribute('show-readers', '')")
    await shown(page, "6 reading now")
    assert await axe_violations(page) == []
    await page.eval_on_selector(COLUMN, "c => c.removeAttribute('show-readers')")
    await page.locator(f"{COLUMN} .readers").wait_for(state="detached")
    before = len(asked)
    assert await page.locator(f"{COLUMN} .conn[data-state=live]").count() == 1
    assert len(asked) == before


async def test_the_leader_tab_reports_the_tabs_it_serves(browser: Browser, site: Site) -> None:
    site.elsewhere(None)
    site.host.pages["/tabs"] = site.page('section="news"')
    context = await browser.new_context()
    try:
        tabs = [await context.new_page() for _ in range(3)]
        for tab in tabs:
            await tab.goto(site.host.origin + "/tabs")
            await tab.wait_for_selector(f"{COLUMN} .conn[data-state=live]")

        async def counted(tabs_served: int) -> bool:
            body = site.audience()
            return bool(body["connections"] == 1 and body["tabs"] == tabs_served)

        # One connection for the three tabs; the leader says so within a round of "here"s.
        await eventually(lambda: counted(3), 3 * POLL_S, "3 tabs on 1 connection", 0.2)
        await tabs[-1].close()
        await eventually(lambda: counted(2), 3 * POLL_S, "2 tabs on 1 connection", 0.2)
    finally:
        await context.close()


async def test_the_iframe_page_and_the_fragment_take_show_readers_and_name_a_bad_one(
    site: Site,
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for path in ("/embed", "/v1/fragment"):
            on = await http.get(f"{site.feed}{path}", params={"show-readers": "1"})
            assert on.status_code == 200
            assert 'show-readers=""' in on.text
            off = await http.get(f"{site.feed}{path}")
            assert "show-readers" not in off.text
            bad = await http.get(f"{site.feed}{path}", params={"show-readers": "yes"})
            assert bad.status_code == 400
            assert bad.headers["content-type"] == "application/problem+json"
            assert bad.json()["errors"][0]["field"] == "show-readers"
