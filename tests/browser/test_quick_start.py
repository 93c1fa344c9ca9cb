"""The README's quick start, as a newcomer runs it: a fresh clone, ``make run``, then
``.venv/bin/livefeed demo`` in a second shell, and the page in a browser.

Default settings but the ports (every one a free port, so two runs on one machine never
collide): the default window, the embedded Redis under the clone's own ``.livefeed``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from playwright.async_api import Page

from services.commands.demo import NEW_HEADLINES
from tests.conftest import short_tmpdir
from tests.procs import REPO, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

README = REPO / "README.md"
PORTS = ("ingest", "feed", "push", "worker_metrics", "purger", "notifier")
INSTALL_AND_START_S = 300  # a fresh venv from pip's cache, then every service answering


def quick_start_commands() -> list[str]:
    """The commands of README's quick start block, comments and blank lines dropped."""
    text = README.read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README's quick start has no sh block"
    lines = (line.split("#", 1)[0].strip() for line in block.group(1).splitlines())
    return [line for line in lines if line]


class Shell:
    """A fresh shell's environment in the clone: no LIVEFEED_* but free ports."""

    def __init__(self, clone: Path) -> None:
        self.clone = clone
        self.ports = {name: free_port() for name in PORTS}
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEFEED_")}
        env.pop("VIRTUAL_ENV", None)
        env.update({f"LIVEFEED_{n.upper()}_PORT": str(p) for n, p in self.ports.items()})
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env

    def start(self, command: str) -> subprocess.Popen[str]:
        """Run one of README's lines as a shell would (they are simple words, no quoting)."""
        return subprocess.Popen(
            shlex.split(command),
            cwd=self.clone,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


def _lines(process: subprocess.Popen[str], into: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        into.append(line)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in that terminal
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def clone() -> Path:
    """A fresh clone of this repository (what is committed), as a newcomer gets it."""
    path = short_tmpdir() / "livefeed"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(path)], check=True, timeout=120)
    return path


async def test_quick_start_shows_a_live_moving_column_within_a_minute(
    clone: Path, page: Page
) -> None:
    commands = quick_start_commands()
    assert commands[:2] == ["make run", ".venv/bin/livefeed demo"], commands
    shell = Shell(clone)
    up_output: list[str] = []
    up = shell.start(commands[0])
    threading.Thread(target=_lines, args=(up, up_output), daemon=True).start()
    demo = None
    try:
        deadline = time.monotonic() + INSTALL_AND_START_S
        while not any("Ctrl-C stops everything" in line for line in up_output):
            assert up.poll() is None, "".join(up_output)
            assert time.monotonic() < deadline, "".join(up_output)
            await asyncio.sleep(0.1)
        banner = "".join(up_output)
        assert f"live page   http://127.0.0.1:{shell.ports['feed']}/" in banner
        assert ".venv/bin/livefeed demo" in banner  # the banner's try line runs as printed

        started = time.monotonic()
        demo_output: list[str] = []
        demo = shell.start(commands[1])
        threading.Thread(target=_lines, args=(demo, demo_output), daemon=True).start()
        await page.goto(f"http://127.0.0.1:{shell.ports['feed']}/")
        items = "#timeline article.item"
        await page.wait_for_function(
            "() => document.getElementById('live').shadowRoot"
            f".querySelectorAll('{items}').length >= 30",
            timeout=30_000,
        )
        assert time.monotonic() - started < 30
        # Then the column moves by itself: the demo's first new headline within 15 s, no reload.
        first_new = NEW_HEADLINES[0][0]
        await page.locator(items, has_text=first_new).first.wait_for(timeout=15_000)
        deadline = time.monotonic() + 5  # the demo prints the line once its POST is answered
        while not any(line.startswith("+ ") and first_new in line for line in demo_output):
            assert time.monotonic() < deadline, "".join(demo_output)
            await asyncio.sleep(0.05)
        assert "posted the seed: 40 headlines" in "".join(demo_output)
    finally:
        if demo is not None:
            _stop(demo)
        _stop(up)
    assert demo is not None
    assert demo.returncode == 0, "".join(demo_output)
