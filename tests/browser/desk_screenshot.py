"""Make ``docs/desk.png``: the desk as a duty editor sees it on a breaking-news night: a
headline being written with its preview, a reporter's draft waiting in the review queue, the
live column with each item's actions, and a second editor on the desk with an item open.

    .venv/bin/python -m tests.browser.desk_screenshot [OUT.png] [--width 1280] [--height 1250]

Starts its own embedded Redis and services (a tokens file: two editors and a contributor),
posts the newest headlines of ``examples/seed.json`` (one pinned, one a key event) and a draft,
signs both editors in, and saves the shot.
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

TOKENS = (
    "rita rita-editor-token-123\n"
    "oleh oleh-editor-token-456\n"
    "ivan ivan-reporter-789 role=contributor\n"
)


async def shoot(out: Path, width: int, height: int) -> None:
    """Start a stack, fill the desk, screenshot it."""
    seed = json.loads((REPO / "examples" / "seed.json").read_text())
    articles = sorted(seed["articles"], key=lambda a: str(a["published_at"]))[-12:]
    articles[-3] = {**articles[-3], "pinned": True}
    articles[-1] = {**articles[-1], "labels": [*articles[-1].get("labels", []), "key"]}
    workdir = short_tmpdir()
    (workdir / "tokens").write_text(TOKENS)
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(
            redis_server.url, workdir, extra_env={"LIVEFEED_TOKENS_FILE": str(workdir / "tokens")}
        ).start()
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                ingest = Ingest(stack, http)
                await ingest.apply({"articles": articles})
                draft = {
                    "id": "draft-1",
                    "title": "Power restored to most of Kharkiv after overnight strikes",
                    "published_at": articles[-1]["published_at"],
                    "section": "news",
                }
                posted = await http.post(
                    f"{ingest.base}/v1/articles",
                    json=draft,
                    headers={"Authorization": "Bearer ivan-reporter-789"},
                )
                posted.raise_for_status()
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                    )
                    desk = stack.url("ingest") + "/desk"
                    pages = []
                    for token in ("oleh-editor-token-456", "rita-editor-token-123"):
                        context = await browser.new_context(
                            viewport={"width": width, "height": height}
                        )
                        page = await context.new_page()
                        await page.goto(desk)
                        await page.fill("#token", token)
                        await page.press("#token", "Enter")
                        await page.wait_for_selector("#conn[data-state=live]")
                        pages.append(page)
                    oleh, rita = pages
                    await oleh.click("#column li.row:nth-of-type(1) button[data-action=edit]")
                    await rita.wait_for_selector("#queue-list li.draft")
                    await rita.fill("#f-title", "Air-raid alert lifted in Kyiv after two hours")
                    await rita.fill("#f-labels", "breaking")
                    await rita.wait_for_selector("#preview >> .item-title")
                    await rita.wait_for_function(
                        "() => document.getElementById('presence').textContent.includes('oleh (')",
                        timeout=10_000,
                    )
                    await rita.screenshot(path=str(out))
                    await browser.close()
        finally:
            stack.stop()


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", nargs="?", default=str(REPO / "docs" / "desk.png"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1250)
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(out, args.width, args.height))
    print(out)


if __name__ == "__main__":
    main()
