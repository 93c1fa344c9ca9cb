"""Readers that stop reading: held and coalesced while they can catch up, cut off when not.

The stalled reader is a raw socket that completes the WebSocket handshake and then stops
reading (with a tiny receive buffer, so the kernel cannot hide it); the tests can make it read
again to see exactly what the server had kept for it. How much the stalled reader costs the
others in latency is measured by the ``stalled`` benchmark (bench/RESULTS.md), not here.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import pytest

from tests.helpers import (
    Ingest,
    SseStalledReader,
    StalledReader,
    Stream,
    article,
    eventually,
    reader_that_never_reads,
    sse_reader_that_never_reads,
    subscribe,
)
from tests.ops.metrics_client import scrape, value
from tests.procs import REPO
from tests.reliability.conftest import StackFactory

READERS = 1000
BATCH = 10
QUIET_BATCHES = 2
LOUD_BATCHES = 6
BUFFER = 32 * 1024  # frames are held past 16 KiB unsent, the reader is cut off past 32 KiB
FILLER = "About two kilobytes of summary. " * 60
# The stalled socket never answers pings: without this, a slow machine could see it closed by
# the keepalive (1011) before the byte limit or the coalescing had their say.
NO_PINGS = "600"


async def _push_metric(http: httpx.AsyncClient, base: str, name: str) -> float:
    return value(await scrape(http, base), name, transport="ws")


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_a_stalled_reader_among_a_thousand_is_cut_off_and_the_others_get_everything(
    make_stack: StackFactory,
) -> None:
    """The crowd follows the news section; the stalled reader takes everything, long-reads too.

    So the stalled reader's socket fills within a few batches while the crowd's frames stay
    small: a crowd process starved of CPU on a busy machine lags, but never near its own limit.
    """
    stack, _server = make_stack(
        LIVEFEED_CLIENT_BUFFER_BYTES=str(BUFFER),
        LIVEFEED_MAX_CONNECTIONS_PER_IP=str(READERS + 10),
        LIVEFEED_PUSH_MAX_HANDSHAKING_PER_IP=str(READERS + 10),  # the crowd: one address
        LIVEFEED_PING_INTERVAL=NO_PINGS,
    )
    total = (QUIET_BATCHES + LOUD_BATCHES) * BATCH
    crowd = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.reliability.crowd",
        f"{stack.ws_url}?section=news", str(READERS), str(total),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    push = stack.url("push")
    async with httpx.AsyncClient(timeout=10) as http:
        ingest = Ingest(stack, http)

        async def all_connected() -> bool:
            return bool((await http.get(f"{push}/healthz")).json()["clients"] >= READERS)

        await eventually(all_connected, 90, "every reader connected", interval=0.1)

        async def post_batch(n: int) -> None:
            items = [
                item
                for i in range(BATCH)
                for item in (
                    article(f"s{n}-{i}", section="news"),
                    article(f"long-{n}-{i}", section="longreads", summary=FILLER),
                )
            ]
            await ingest.apply({"articles": items})

        for n in range(QUIET_BATCHES):
            await post_batch(n)
        stalled = reader_that_never_reads(stack.ports["push"])
        for n in range(QUIET_BATCHES, QUIET_BATCHES + LOUD_BATCHES):
            await post_batch(n)

        async def cut_off() -> bool:
            return await _push_metric(http, push, "livefeed_push_slow_clients_closed_total") >= 1

        await eventually(cut_off, 30, "the stalled reader cut off")
        # What it gets when it reads again: what was already on its way, then a clear close.
        read_rest = StalledReader(stalled).read_until
        _messages, code = await asyncio.to_thread(read_rest, lambda _: False)
        stalled.close()
        assert code == 1008, "the stalled reader was not told why it was closed"
        assert await _push_metric(http, push, "livefeed_push_clients_behind") == 0

    out, err = await asyncio.wait_for(crowd.communicate(), 180)
    assert crowd.returncode == 0, err.decode()[-2000:]
    result: dict[str, Any] = json.loads(out.decode().splitlines()[-1])
    assert result["failed"] == 0, result["failures"]
    expected = [f"s{n}-{i}" for n in range(QUIET_BATCHES + LOUD_BATCHES) for i in range(BATCH)]
    for client in result["clients"]:
        assert client["ids"] == expected, "a reader missed, repeated or reordered an event"


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_reader_behind_on_a_story_being_edited_gets_its_latest_version_not_cut_off(
    make_stack: StackFactory,
) -> None:
    stack, _server = make_stack(
        services=("ingest", "worker", "push"),
        LIVEFEED_CLIENT_BUFFER_BYTES=str(BUFFER),
        LIVEFEED_PING_INTERVAL=NO_PINGS,
    )
    push = stack.url("push")
    seen: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=10) as http, subscribe(stack.ws_url) as reader:
        ingest = Ingest(stack, http)
        assert (await reader.next())["type"] == "hello"
        stalled_socket = reader_that_never_reads(stack.ports["push"])
        stalled = StalledReader(stalled_socket)

        async def post_and_see(item: dict[str, Any]) -> None:
            """Apply ``item`` and wait until the live reader has it: it has been fanned out."""
            await ingest.apply(item)
            seen.append(await _next_change(reader))
            assert seen[-1]["headline"]["id"] == item["id"]

        # Distinct headlines until the stalled reader's socket is full and frames are held.
        fillers: list[str] = []
        while await _push_metric(http, push, "livefeed_push_clients_behind") < 1:
            assert len(fillers) < 200, "the stalled reader never fell behind"
            fillers.append(f"filler-{len(fillers)}")
            await post_and_see(article(fillers[-1], summary=FILLER))
        # A story published, then edited 30 times while that reader is behind.
        for version in range(1, 32):
            await post_and_see(article("story", title=f"Story, take {version}", version=version))

        assert await _push_metric(http, push, "livefeed_push_slow_clients_closed_total") == 0
        assert await _push_metric(http, push, "livefeed_push_frames_coalesced_total") >= 30
        messages, code = await asyncio.to_thread(
            stalled.read_until, lambda m: m[-1].get("headline", {}).get("id") == "story"
        )
        assert code is None, "the reader was closed although its backlog was coalesced"
        changes = messages[1:]  # after hello
        assert [m["headline"]["id"] for m in changes] == [*fillers, "story"]
        story = changes[-1]
        assert story["type"] == "published", "it never saw the story, so it is new to it"
        assert story["headline"]["title"] == "Story, take 31"
        ids = [tuple(map(int, m["event_id"].split("-"))) for m in changes]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)

        # Caught up, it is live again: the next headline reaches it like anyone else.
        await post_and_see(article("after"))
        later, code = await asyncio.to_thread(
            stalled.read_until, lambda m: m[-1].get("headline", {}).get("id") == "after"
        )
        assert code is None
        assert [m["type"] for m in later] == ["published"]
        assert await _push_metric(http, push, "livefeed_push_clients_behind") == 0
        stalled_socket.close()

    # The reader that kept up got every change, each once, in order.
    assert [(m["type"], m["headline"]["id"]) for m in seen] == [
        *(("published", f) for f in fillers),
        ("published", "story"),
        *(("updated", "story") for _ in range(30)),
        ("published", "after"),
    ]


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_an_sse_reader_behind_is_held_and_coalesced_like_a_websocket(
    make_stack: StackFactory,
) -> None:
    """The same policy on the other transport: held, coalesced, caught up, live again."""
    stack, _server = make_stack(
        services=("ingest", "worker", "push"),
        LIVEFEED_CLIENT_BUFFER_BYTES=str(BUFFER),
        LIVEFEED_PING_INTERVAL=NO_PINGS,
    )
    push = stack.url("push")

    async def sse_metric(http: httpx.AsyncClient, name: str) -> float:
        return value(await scrape(http, push), name, transport="sse")

    async with httpx.AsyncClient(timeout=10) as http, subscribe(stack.ws_url) as reader:
        ingest = Ingest(stack, http)
        assert (await reader.next())["type"] == "hello"
        stalled_socket = sse_reader_that_never_reads(stack.ports["push"])
        stalled = SseStalledReader(stalled_socket)

        async def post_and_see(item: dict[str, Any]) -> None:
            await ingest.apply(item)
            assert (await _next_change(reader))["headline"]["id"] == item["id"]

        fillers: list[str] = []
        while await sse_metric(http, "livefeed_push_clients_behind") < 1:
            assert len(fillers) < 200, "the stalled SSE reader never fell behind"
            fillers.append(f"filler-{len(fillers)}")
            await post_and_see(article(fillers[-1], summary=FILLER))
        for version in range(1, 32):
            await post_and_see(article("story", title=f"Story, take {version}", version=version))

        assert await sse_metric(http, "livefeed_push_slow_clients_closed_total") == 0
        assert await sse_metric(http, "livefeed_push_frames_coalesced_total") >= 30
        messages, ended = await asyncio.to_thread(
            stalled.read_until, lambda m: m[-1].get("headline", {}).get("id") == "story"
        )
        assert not ended, "the SSE reader was cut off although its backlog was coalesced"
        changes = messages[1:]  # after hello
        assert [m["headline"]["id"] for m in changes] == [*fillers, "story"]
        assert changes[-1]["type"] == "published"
        assert changes[-1]["headline"]["title"] == "Story, take 31"
        await post_and_see(article("after"))
        later, ended = await asyncio.to_thread(
            stalled.read_until, lambda m: m[-1].get("headline", {}).get("id") == "after"
        )
        assert not ended
        assert [m["type"] for m in later] == ["published"]
        assert await sse_metric(http, "livefeed_push_clients_behind") == 0
        stalled_socket.close()


async def _next_change(reader: Stream) -> dict[str, Any]:
    message = await reader.next(timeout=10)
    assert message["type"] in ("published", "updated"), message
    return message
