"""Make ``docs/embed.png``: a news site's article page with ``<livefeed-column>`` beside it.

    .venv/bin/python -m tests.browser.embed_screenshot [OUT.png]

Starts its own embedded Redis and services, a host site on another origin (allowed through
``LIVEFEED_EMBED_ORIGINS``, with a strict CSP), posts ``examples/seed.json`` and screenshots.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from shared.redis_server import EmbeddedRedis
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.embedhost import Host
from tests.conftest import short_tmpdir
from tests.helpers import Ingest
from tests.procs import REPO, Stack

SITE_CSS = """
body { margin: 0; font: 17px/1.6 Georgia, serif; color: #222; background: #fff; }
header { background: #0b2545; color: #fff; padding: 14px 28px; font: 700 24px/1 sans-serif; }
.page { display: grid; grid-template-columns: 1fr 380px; gap: 36px; padding: 24px 28px; }
h1 { font-size: 32px; line-height: 1.2; margin: 0 0 12px; }
livefeed-column { --livefeed-accent: #c8102e; }
"""

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Belarus' entry into war is unfeasible for Russia — Espreso Global</title>
<link rel="stylesheet" href="/site.css">
<script type="module" src="{feed}/embed.js"></script></head>
<body><header>Espreso Global</header><div class="page">
<main><h1>Belarus' entry into war is unfeasible for Russia: expert</h1>
<p>The article's text sits here, styled by the site. The "News" column beside it is livefeed's
embed: one script tag and one element, live over a single connection per reader.</p>
<p>Headlines appear at the top of their day as the newsroom publishes them, updates replace
them in place, and retractions vanish.</p></main>
<aside aria-label="News"><livefeed-column limit="12" more-href="/news"></livefeed-column></aside>
</div></body></html>
"""


async def shoot(out: Path) -> None:
    """Start everything, post the seed, screenshot the host page."""
    seed = json.loads((REPO / "examples" / "seed.json").read_text())
    host = Host().start()
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(
            redis_server.url, short_tmpdir(), extra_env={"LIVEFEED_EMBED_ORIGINS": host.origin}
        ).start()
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                await Ingest(stack, http).apply(seed)
            feed = stack.url("feed")
            push = f"ws://127.0.0.1:{stack.ports['push']}"
            host.csp = (
                f"default-src 'none'; script-src 'self' {feed}; style-src 'self'; "
                f"connect-src {feed} {push}; img-src 'self' data:"
            )
            host.files["/site.css"] = ("text/css", SITE_CSS)
            host.pages["/"] = PAGE.format(feed=feed)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                page = await browser.new_page(viewport={"width": 1100, "height": 900})
                await page.goto(host.origin + "/")
                await page.wait_for_selector("livefeed-column .conn[data-state=live]")
                await page.screenshot(path=str(out))
                await browser.close()
        finally:
            stack.stop()
            host.stop()


def main() -> None:
    """Command line."""
    out = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs" / "embed.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(out))
    print(out)


if __name__ == "__main__":
    main()
