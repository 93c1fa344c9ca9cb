"""Make ``docs/screenshot.png``: the live page with the seed headlines, in headless Chromium:
a live summary on top and, as a returning reader sees it, "3 new since …" above the headlines
posted since the first visit.

    .venv/bin/python -m tests.browser.screenshot [OUT.png] [--width 1000] [--full]

Starts its own embedded Redis and services on free ports (no age limit, so the 2024 seed
headlines show), posts ``examples/seed.json`` but its three newest, visits the page once, posts
those three and a summary, visits again, waits until the page is live, and saves the shot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from shared.redis_server import EmbeddedRedis
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import short_tmpdir
from tests.helpers import Ingest
from tests.procs import REPO, Stack

SUMMARY = (
    "Russia's war against Ukraine, day 974: overnight drone attacks on Kyiv and Kharkiv; "
    "Moldova's electoral commission reports vote-buying money from Russia.\n\n"
    "Follow every update below; times are Kyiv's."
)


async def shoot(out: Path, width: int, height: int, full: bool) -> None:
    """Start a stack, post the seed, screenshot the page."""
    seed = json.loads((REPO / "examples" / "seed.json").read_text())
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(redis_server.url, short_tmpdir()).start()
        try:
            articles = sorted(seed["articles"], key=lambda a: str(a["published_at"]))
            async with httpx.AsyncClient(timeout=10) as http:
                ingest = Ingest(stack, http)
                await ingest.apply({"articles": articles[:-3]})
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                    )
                    context = await browser.new_context(viewport={"width": width, "height": height})
                    page = await context.new_page()
                    await page.goto(stack.url("feed") + "/")  # the first visit, remembered
                    await page.wait_for_selector("#conn[data-state=live]")
                    await page.close()
                    await ingest.apply({"articles": articles[-3:]})
                    summary = await http.put(
                        f"{ingest.base}/v1/summary", json={"text": SUMMARY}, headers=ingest.auth
                    )
                    summary.raise_for_status()
                    page = await context.new_page()
                    await page.goto(stack.url("feed") + "/")
                    await page.wait_for_selector("#conn[data-state=live]")
                    await page.screenshot(path=str(out), full_page=full)
                    await browser.close()
        finally:
            stack.stop()


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", nargs="?", default=str(REPO / "docs" / "screenshot.png"))
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--full", action="store_true", help="the whole page, not one screen")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(out, args.width, args.height, args.full))
    print(out)


if __name__ == "__main__":
    main()
