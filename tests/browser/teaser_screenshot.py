"""Make ``docs/teaser.png``: a news site's home page with ``<livefeed-teaser>`` under its
masthead, wide and (``--width 390``) on a phone.

    .venv/bin/python -m tests.browser.teaser_screenshot [OUT.png] [--width N]

Starts its own embedded Redis and services and a host site on another origin (allowed through
``LIVEFEED_EMBED_ORIGINS``), posts ``examples/seed.json`` and screenshots the top of the page.
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
.strip { padding: 14px 28px; border-bottom: 1px solid #ddd; }
main { padding: 8px 28px; } h1 { font-size: 30px; line-height: 1.2; }
"""

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Espreso Global — home</title><link rel="stylesheet" href="/site.css">
<script type="module" src="{feed}/embed.js"></script></head>
<body><header>Espreso Global</header>
<aside class="strip" aria-label="Live"><livefeed-teaser limit="3" href="/live"></livefeed-teaser>
</aside><main><h1>Today's front page</h1><p>The site's own stories follow here.</p></main>
</body></html>
"""


async def shoot(out: Path, width: int) -> None:
    """Start everything, post the seed, screenshot the top of the host's home page."""
    seed = json.loads((REPO / "examples" / "seed.json").read_text())
    host = Host().start()
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(
            redis_server.url, short_tmpdir(), extra_env={"LIVEFEED_EMBED_ORIGINS": host.origin}
        ).start()
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                await Ingest(stack, http).apply(seed)
            host.files["/site.css"] = ("text/css", SITE_CSS)
            host.pages["/"] = PAGE.format(feed=stack.url("feed"))
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                page = await browser.new_page(viewport={"width": width, "height": 600})
                await page.goto(host.origin + "/")
                await page.wait_for_selector("livefeed-teaser[data-ready]")
                await page.wait_for_function(
                    "() => document.querySelector('livefeed-teaser').shadowRoot"
                    ".querySelector('.mark').dataset.state === 'live'"
                )
                await page.locator("body").screenshot(path=str(out))
                await browser.close()
        finally:
            stack.stop()
            host.stop()


def main() -> None:
    """Command line."""
    args = sys.argv[1:]
    width = 1100
    if "--width" in args:
        at = args.index("--width")
        width = int(args[at + 1])
        del args[at : at + 2]
    out = Path(args[0] if args else REPO / "docs" / "teaser.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(out, width))
    print(out)


if __name__ == "__main__":
    main()
