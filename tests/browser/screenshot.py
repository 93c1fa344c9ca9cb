"""Make ``docs/screenshot.png``: the live page with the seed headlines, in headless Chromium.

    .venv/bin/python -m tests.browser.screenshot [OUT.png] [--width 1000] [--full]

Starts its own embedded Redis and services on free ports (no age limit, so the 2024 seed
headlines show), posts ``examples/seed.json``, waits until the page is live, and saves the shot.
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


async def shoot(out: Path, width: int, height: int, full: bool) -> None:
    """Start a stack, post the seed, screenshot the page."""
    seed = json.loads((REPO / "examples" / "seed.json").read_text())
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(redis_server.url, short_tmpdir()).start()
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                await Ingest(stack, http).apply(seed)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                page = await browser.new_page(viewport={"width": width, "height": height})
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
