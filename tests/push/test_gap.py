"""A stream reader that was away while the log trimmed past it never skips the gap silently.

The push process is stopped (SIGSTOP: a stalled VM, a long GC pause, a partition)
while more events than LIVEFEED_STREAM_MAXLEN are written. When it runs again, the events
after its position are gone: its clients are sent away to resume, and their resume gets reset.
"""

from __future__ import annotations

import signal

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import STREAM_MAXLEN
from tests.helpers import Ingest, article, subscribe
from tests.procs import Service, Stack, free_port
from tests.sse import sse


async def _flood_while_stopped(ingest: Ingest, service: Service) -> None:
    assert service.process is not None
    service.process.send_signal(signal.SIGSTOP)
    try:
        batch = [article(f"gap-{n}") for n in range(STREAM_MAXLEN + 50)]
        await ingest.apply({"articles": batch})
    finally:
        service.process.send_signal(signal.SIGCONT)


@pytest.mark.slow
async def test_websocket_clients_of_a_reader_that_missed_trimmed_events_reset(
    ingest: Ingest, fresh: Stack
) -> None:
    port = free_port()
    push = fresh.start_service("push", key="push-gap", LIVEFEED_PUSH_PORT=str(port))
    try:
        fresh.wait_healthy("push", port=port)
        url = f"ws://127.0.0.1:{port}/v1/stream"
        await ingest.apply(article("gap-before"))
        async with subscribe(url) as stream:
            hello = await stream.next()
            await _flood_while_stopped(ingest, push)
            # Not the events that survived the trim, as if nothing had been lost: a close
            # that says reconnect.
            with pytest.raises(ConnectionClosed) as closed:
                await stream.next(timeout=15)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1012
        async with subscribe(url, since=hello["event_id"]) as again:
            assert (await again.next())["type"] == "hello"
            assert await again.next() == {"type": "reset"}
            await ingest.apply(article("gap-after"))
            assert (await again.next())["headline"]["id"] == "gap-after"
    finally:
        push.stop()


@pytest.mark.slow
async def test_sse_clients_of_a_reader_that_missed_trimmed_events_reset(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    port = free_port()
    push = fresh.start_service("push", key="push-gap-sse", LIVEFEED_PUSH_PORT=str(port))
    try:
        fresh.wait_healthy("push", port=port)
        url = f"http://127.0.0.1:{port}/v1/events"
        async with sse(http, url) as stream:
            assert (await stream.next()).event == "hello"
            first = await ingest.apply(article("sse-gap-before"))
            seen = await stream.next()
            assert seen.id == first[0]["event_id"]
            await _flood_while_stopped(ingest, push)
            with pytest.raises(EOFError):  # the stream ends: EventSource reconnects
                await stream.next(timeout=15)
        async with sse(http, url, last_event_id=seen.id) as again:
            assert (await again.next()).event == "hello"
            assert (await again.next()).event == "reset"
    finally:
        push.stop()
