"""``livefeed tail`` against running services: live lines, markers, filters, reconnects."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.helpers import Ingest, article
from tests.procs import REPO, Stack


class TailProcess:
    """A running ``livefeed tail`` with its output read line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    async def line(self, timeout: float = 5.0) -> str:
        """The next line on standard output."""
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        assert raw, "tail exited"
        text = raw.decode().rstrip("\n")
        self.lines.append(text)
        return text

    async def note(self, contains: str, timeout: float = 10.0) -> str:
        """Wait for a standard-error line containing ``contains``."""
        assert self.proc.stderr is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stderr.readline(), timeout)
            assert raw, "tail exited"
            if contains in raw.decode():
                return raw.decode()


@asynccontextmanager
async def tail(stack: Stack, *args: str) -> AsyncIterator[TailProcess]:
    """Start ``livefeed tail`` with the stack's settings (its push port) and wait until it is on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "tail", *args,
        env=stack.env(), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    running = TailProcess(proc)
    try:
        await running.note("connected")
        yield running
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def test_tail_prints_headlines_posted_after_it_started(ingest: Ingest, fresh: Stack) -> None:
    async with tail(fresh) as running:
        await ingest.apply(article("t-1", title="Kyiv hosts summit", labels=["Exclusive"]))
        assert await running.line() == "+ 2024-10-24 16:55  [Exclusive] Kyiv hosts summit"
        await ingest.apply(article("t-1", title="Kyiv hosts summit (new)", version=2))
        assert await running.line() == "~ 2024-10-24 16:55  [Updated] Kyiv hosts summit (new)"
        response = await ingest.client.delete(f"{ingest.base}/v1/articles/t-1", headers=ingest.auth)
        await ingest.wait_applied(response)
        assert await running.line() == "- retracted t-1"


async def test_tail_filters_and_starts_since_an_event(ingest: Ingest, fresh: Stack) -> None:
    await ingest.apply(article("before"))
    body = (await ingest.client.get(f"{fresh.url('feed')}/v1/timeline")).json()
    await ingest.apply(article("missed", section="world", urgency=1))
    async with tail(fresh, "--since", body["event_id"], "--section", "world") as running:
        assert await running.line() == "+ 2024-10-24 16:55  [Breaking] Headline missed"
        await ingest.apply(article("other", section="sport"))
        await ingest.apply(article("mine", section="world"))
        assert await running.line() == "+ 2024-10-24 16:55  Headline mine"
        await ingest.apply(article("mine", section="sport", version=2))  # moved out of "world"
        assert await running.line() == "- left the filter mine"


async def test_tail_reconnects_by_itself_and_misses_nothing(http: httpx.AsyncClient) -> None:
    with EmbeddedRedis(short_tmpdir()) as redis_server:
        stack = Stack(redis_server.url, short_tmpdir()).start()
        try:
            ingest = Ingest(stack, http)
            async with tail(stack) as running:
                await ingest.apply(article("up-1"))
                assert (await running.line()).endswith("Headline up-1")
                stack.services["push"].stop()
                await running.note("reconnecting")
                await ingest.apply(article("down-1"))
                await ingest.apply(article("down-2"))
                stack.start_service("push")
                assert (await running.line(15)).endswith("Headline down-1")
                assert (await running.line()).endswith("Headline down-2")
                await ingest.apply(article("up-2"))
                assert (await running.line()).endswith("Headline up-2")
            assert len(running.lines) == len(set(running.lines)) == 4
        finally:
            stack.stop()
