"""SSE on the push port: the same events as the WebSocket, from the same hub, resumable with
Last-Event-ID, under the same slow-reader policy (held, coalesced, then cut off and closed)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time

import httpx
import redis

from shared import keys
from tests.conftest import STREAM_MAXLEN
from tests.helpers import Feed, Ingest, article, eventually, subscribe, tcp_established
from tests.procs import Stack, free_port
from tests.sse import sse


def events_url(stack: Stack) -> str:
    return f"{stack.url('push')}/v1/events"


async def test_sse_carries_published_updated_retracted_with_ids(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    async with sse(http, events_url(fresh)) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["x-accel-buffering"] == "no"
        assert "no-store" in stream.response.headers["cache-control"]
        hello = await stream.next()
        assert hello.event == "hello"
        assert hello.id is None  # resuming must never skip to the hello
        assert stream.retry is not None
        assert 1000 <= stream.retry <= 5000

        await ingest.apply(article("s-1", title="First", version=1))
        await ingest.apply(article("s-1", title="Second", version=2))
        response = await ingest.client.delete(f"{ingest.base}/v1/articles/s-1", headers=ingest.auth)
        await ingest.wait_applied(response)
        published, updated, retracted = await stream.take(3)
    assert (published.event, published.data["headline"]["title"]) == ("published", "First")
    assert (updated.event, updated.data["headline"]["title"]) == ("updated", "Second")
    assert (retracted.event, retracted.data["headline"]) == ("retracted", {"id": "s-1"})
    for message in (published, updated, retracted):
        assert message.id == message.data["event_id"]
        assert message.data["type"] == message.event
    assert [published.id, updated.id, retracted.id] == sorted(
        [published.id, updated.id, retracted.id], key=lambda i: tuple(map(int, i.split("-")))
    )


async def test_resume_with_last_event_id_misses_and_repeats_nothing(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    await ingest.apply(article("r-0"))
    async with sse(http, events_url(fresh)) as stream:
        await stream.next()  # hello
        await ingest.apply(article("r-1"))
        await ingest.apply(article("r-2"))
        first = await stream.next()
        assert first.data["headline"]["id"] == "r-1"
        # The reader drops here, having seen r-1 only (r-2 may sit unread in its buffer).
    for n in range(3, 6):
        await ingest.apply(article(f"r-{n}"))

    async with sse(http, events_url(fresh), last_event_id=first.id) as stream:
        hello = await stream.next()
        assert hello.event == "hello"
        replayed = await stream.take(4)
        await ingest.apply(article("r-6"))
        live = await stream.next()
    seen = [m.data["headline"]["id"] for m in [*replayed, live]]
    assert seen == ["r-2", "r-3", "r-4", "r-5", "r-6"]
    ids = [m.id for m in [first, *replayed, live]]
    assert len(set(ids)) == len(ids)


async def test_since_from_the_timeline_and_header_wins_over_query(
    ingest: Ingest, feed: Feed, fresh: Stack, http: httpx.AsyncClient
) -> None:
    await ingest.apply(article("t-0"))
    since = (await feed.timeline())["event_id"]
    await ingest.apply(article("t-1"))
    later = (await feed.timeline())["event_id"]
    await ingest.apply(article("t-2"))
    async with sse(http, events_url(fresh), since=since) as stream:
        await stream.next()
        ids = [m.data["headline"]["id"] for m in await stream.take(2)]
    assert ids == ["t-1", "t-2"]
    # EventSource reconnects to the same URL with a newer Last-Event-ID: the header decides.
    async with sse(http, events_url(fresh), last_event_id=later, since=since) as stream:
        await stream.next()
        assert (await stream.next()).data["headline"]["id"] == "t-2"


async def test_filters_by_section_and_label(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    async with (
        sse(http, events_url(fresh), section="world") as world,
        sse(http, events_url(fresh), label="Exclusive") as exclusive,
    ):
        await world.next()
        await exclusive.next()
        await ingest.apply(
            {
                "articles": [
                    article("f-1", section="sport"),
                    article("f-2", section="world"),
                    article("f-3", section="sport", labels=["Exclusive"]),
                    article("f-4", section="world", labels=["exclusive", "opinion"]),
                ]
            }
        )
        assert [m.data["headline"]["id"] for m in await world.take(2)] == ["f-2", "f-4"]
        assert [m.data["headline"]["id"] for m in await exclusive.take(2)] == ["f-3", "f-4"]


async def test_reset_when_since_is_older_than_the_log_or_unknown(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    await ingest.apply(article("old"))
    async with sse(http, events_url(fresh)) as stream:
        await stream.next()
        await ingest.apply(article("gone-soon"))
        oldest = (await stream.next()).id
    batch = [article(f"flood-{n}") for n in range(STREAM_MAXLEN + 20)]
    await ingest.apply({"articles": batch})
    async with sse(http, events_url(fresh), last_event_id=oldest) as stream:
        hello = await stream.next()
        reset = await stream.next()
        assert reset.event == "reset"
        assert reset.id == hello.data["event_id"]  # reconnecting after a reset resumes from here
        await ingest.apply(article("after-reset"))
        assert (await stream.next()).data["headline"]["id"] == "after-reset"
    async with sse(http, events_url(fresh), since="99999999999999-0") as stream:
        await stream.next()
        assert (await stream.next()).event == "reset"


async def test_ids_beyond_64_bits_are_problems_and_the_header_wins_over_since(
    ingest: Ingest, feed: Feed, fresh: Stack, http: httpx.AsyncClient
) -> None:
    beyond = f"{2**64}-0"  # one past what Redis holds in an id part
    for headers, params, field in [
        ({"Last-Event-ID": beyond}, {}, "Last-Event-ID"),
        ({}, {"since": beyond}, "since"),
        ({}, {"since": f"0-{2**64}"}, "since"),
    ]:
        bad = await http.get(events_url(fresh), headers=headers, params=params)
        assert bad.status_code == 400, bad.text
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["errors"][0]["field"] == field
    # Last-Event-ID wins over ?since= (README): a since EventSource keeps in its URL, however
    # broken, does not matter once the browser has an event id to resume from.
    await ingest.apply(article("h-1"))
    last = (await feed.timeline())["event_id"]
    await ingest.apply(article("h-2"))
    for since in ("garbage", beyond):
        async with sse(http, events_url(fresh), last_event_id=last, since=since) as stream:
            assert stream.response.status_code == 200
            assert (await stream.next()).event == "hello"
            assert (await stream.next()).data["headline"]["id"] == "h-2"


async def test_bad_last_event_id_and_filters_are_problems(
    fresh: Stack, http: httpx.AsyncClient
) -> None:
    bad = await http.get(events_url(fresh), headers={"Last-Event-ID": "yesterday"})
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"][0]["field"] == "Last-Event-ID"
    bad = await http.get(events_url(fresh), params={"since": "x"})
    assert bad.json()["errors"][0]["field"] == "since"
    bad = await http.get(events_url(fresh), params={"section": "Not A Slug"})
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (400, "section")


async def test_keep_alive_comments_flow_while_nothing_happens(
    fresh: Stack, http: httpx.AsyncClient
) -> None:
    port = free_port()
    extra = fresh.start_service(
        "push", key="push-keepalive", LIVEFEED_PUSH_PORT=str(port), LIVEFEED_PING_INTERVAL="0.2"
    )
    try:
        fresh.wait_healthy("push", port=port)
        async with sse(http, f"http://127.0.0.1:{port}/v1/events") as stream:
            await stream.next()
            lines = []
            while len([x for x in lines if x == ": keep-alive"]) < 2:
                lines.append(await asyncio.wait_for(anext(stream.lines), 5))
            assert lines.count(": keep-alive") == 2
            # Shutdown ends open streams at once instead of waiting out the grace period.
            started = time.monotonic()
            assert extra.stop() == 0
            assert time.monotonic() - started < 5
    finally:
        extra.stop()


async def test_a_client_that_stops_reading_is_dropped_and_resumes_without_gaps(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    port = free_port()
    extra = fresh.start_service(
        "push", key="push-slow", LIVEFEED_PUSH_PORT=str(port), LIVEFEED_CLIENT_BUFFER_BYTES="4096"
    )
    try:
        fresh.wait_healthy("push", port=port)
        # A reader with a tiny receive window that reads the first bytes, then nothing.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        client_port = sock.getsockname()[1]
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        writer.write(b"GET /v1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")

        title = "x" * 290
        dropped = False
        for batch in range(40):
            items = [article(f"slow-{batch}-{n}", title=f"{title} {n}") for n in range(200)]
            await ingest.apply({"articles": items})
            metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            if 'livefeed_push_slow_clients_closed_total{transport="sse"} 1.0' in metrics:
                dropped = True
                break
        assert dropped, "the stalled client was never dropped"
        assert 'livefeed_push_clients{transport="sse"} 0.0' in metrics  # its memory is released

        # Really closed, while the client still reads nothing: the server's socket (and the
        # bytes in its kernel buffer) are gone, not left ESTABLISHED behind a full window.
        async def gone() -> bool:
            return not tcp_established(port, client_port)

        await eventually(gone, 10, "the dropped client's connection closed")

        # What reached it before the cut-off is whole up to its last complete message: it
        # resumes from there with Last-Event-ID.
        body = b""
        with contextlib.suppress(ConnectionResetError):  # the server aborted: RST, not FIN
            while chunk := await asyncio.wait_for(reader.read(65536), 10):
                body += chunk
        writer.close()
        complete = re.findall(rb"id: (\S+)\nevent: \w+\ndata: [^\n]*\n\n", body)
        last_id = complete[-1].decode() if complete else "0-0"
        async with sse(http, f"http://127.0.0.1:{port}/v1/events", last_event_id=last_id) as again:
            await again.next()
            first = await again.next()
        following = redis_client.xrange(keys.EVENTS, f"({last_id}", "+", count=1)
        assert first.id == following[0][0].decode()  # exactly the next one: no gap, no repeat
    finally:
        extra.stop()


async def test_a_reading_client_gets_every_event_of_a_large_batch(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    """A batch larger than a client's buffer reaches a client that reads (as on the WebSocket)."""
    summary = "word " * 380  # ~1.9 KB per event: 150 of them are past the 256 KiB limit
    items = [article(f"big-{n}", summary=summary) for n in range(150)]
    async with sse(http, events_url(fresh)) as stream:
        assert (await stream.next()).event == "hello"
        await ingest.apply({"articles": items})
        got = [message.data["headline"]["id"] for message in await stream.take(150, timeout=10)]
    assert got == [item["id"] for item in items]


async def test_one_stream_reader_per_process_whatever_the_readers(
    fresh: Stack, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    """Readers of both transports share the push process's one XREAD (feed has its own, for
    its view cache: one per process, whatever the readers)."""
    async with contextlib.AsyncExitStack() as stack:
        for n in range(10):
            ws = await stack.enter_async_context(subscribe(fresh.ws_url, section=f"s{n % 3}"))
            await ws.next()
            stream = await stack.enter_async_context(sse(http, events_url(fresh), label=f"l{n}"))
            await stream.next()

        async def xread_clients() -> list[dict[str, str]]:
            clients = redis_client.client_list()
            return [c for c in clients if c.get("cmd") in ("xread", "xreadgroup")]

        # Between two XREADs the reader may be on another command: wait until it is blocked.
        async def both_blocked() -> list[dict[str, str]] | None:
            readers = await xread_clients()
            return readers if len(readers) >= 2 else None

        # Between two XREADs a reader may be on another command: wait until both are blocked.
        readers = await eventually(both_blocked, 10, "push and feed blocked in XREAD")
        # The session stack runs one push and one feed process: one XREAD connection each.
        assert len(readers) == 2, readers


async def test_only_get_opens_an_event_stream(fresh: Stack, http: httpx.AsyncClient) -> None:
    for method in ("POST", "PUT", "DELETE"):
        refused = await http.request(method, events_url(fresh))
        assert refused.status_code == 405, method
        assert refused.headers["content-type"] == "application/problem+json"
