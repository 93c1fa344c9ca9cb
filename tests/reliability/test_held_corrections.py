"""A reader held behind while a story is corrected: the latest state AND every correction note.

The stalled reader is the raw socket of test_slow_reader (it completes the handshake, then
stops reading); coalescing merges the story's 20 edits, never its corrections.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.helpers import (
    Ingest,
    SseStalledReader,
    StalledReader,
    Stream,
    article,
    reader_that_never_reads,
    sse_reader_that_never_reads,
    subscribe,
)
from tests.ops.metrics_client import scrape, value
from tests.reliability.conftest import StackFactory
from tests.reliability.test_slow_reader import BUFFER, FILLER, NO_PINGS

CORRECTED_AT = {7: "The minister is Ivan Petrenko.", 15: "The summit opens on Friday."}


async def _next_change(reader: Stream) -> dict[str, Any]:
    message = await reader.next(timeout=10)
    assert message["type"] in ("published", "updated", "corrected"), message
    return message


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_a_held_reader_gets_the_latest_story_and_both_corrections_of_20_edits(
    make_stack: StackFactory, transport: str
) -> None:
    stack, _server = make_stack(
        services=("ingest", "worker", "push"),
        LIVEFEED_CLIENT_BUFFER_BYTES=str(BUFFER),
        LIVEFEED_PING_INTERVAL=NO_PINGS,
    )
    push = stack.url("push")

    async def metric(http: httpx.AsyncClient, name: str) -> float:
        return value(await scrape(http, push), name, transport=transport)

    async with httpx.AsyncClient(timeout=10) as http, subscribe(stack.ws_url) as reader:
        ingest = Ingest(stack, http)
        assert (await reader.next())["type"] == "hello"

        async def post_and_see(item: dict[str, Any]) -> None:
            await ingest.apply(item)
            assert (await _next_change(reader))["headline"]["id"] == item["id"]

        # The story is out and seen by everyone; then the stalled reader falls behind.
        await post_and_see(article("story", title="Story, take 1", version=1))
        if transport == "ws":
            sock = reader_that_never_reads(stack.ports["push"])
            ws_stalled = StalledReader(sock)
        else:
            sock = sse_reader_that_never_reads(stack.ports["push"])
            sse_stalled = SseStalledReader(sock)
        fillers: list[str] = []
        while await metric(http, "livefeed_push_clients_behind") < 1:
            assert len(fillers) < 200, "the stalled reader never fell behind"
            fillers.append(f"filler-{len(fillers)}")
            await post_and_see(article(fillers[-1], summary=FILLER))
        # 20 edits while it is behind, two of them corrections.
        for version in range(2, 22):
            await post_and_see(
                article(
                    "story",
                    title=f"Story, take {version}",
                    version=version,
                    correction=CORRECTED_AT.get(version),
                )
            )
        assert await metric(http, "livefeed_push_slow_clients_closed_total") == 0
        assert await metric(http, "livefeed_push_frames_coalesced_total") >= 15

        def done(messages: list[dict[str, Any]]) -> bool:
            last = messages[-1]
            return last.get("headline", {}).get("title") == "Story, take 21"

        if transport == "ws":
            messages, code = await asyncio.to_thread(ws_stalled.read_until, done)
            assert code is None, "the reader was closed although its backlog was coalesced"
        else:
            messages, ended = await asyncio.to_thread(sse_stalled.read_until, done)
            assert not ended
        sock.close()

    story = [m for m in messages if m.get("headline", {}).get("id") == "story"]
    # Each correction announced once, with its own note; the last frame has the latest state.
    assert [m["type"] for m in story] == ["corrected", "corrected"]
    assert [m["correction"]["text"] for m in story] == list(CORRECTED_AT.values())
    assert story[-1]["headline"]["title"] == "Story, take 21"
    notes = [c["text"] for c in story[-1]["headline"]["corrections"]]
    assert notes == list(CORRECTED_AT.values())
    ids = [tuple(map(int, m["event_id"].split("-"))) for m in messages if "event_id" in m]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
