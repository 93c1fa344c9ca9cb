"""The stream's promises behind a real Pushpin: resume, a Pushpin restart, an item the proxy
missed (prev-id), reset, Grip-Sig, and the long-poll (through Pushpin and without GRIP).

One GRIP stack for the module (tests/grip/conftest.py ``grip``); each test reads its own
section, so what the others post never reaches its readers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import redis

from shared import grip as grip_protocol
from shared.events import Event, EventId
from shared.frames import sse_frame, updates_body
from shared.keys import EVENTS
from tests.grip.gripstack import KEY, STREAM_MAXLEN, GripStack, RawSse
from tests.helpers import Feed, Ingest, article, eventually, http_client, subscribe
from tests.procs import Stack, wait_for
from tests.sse import sse


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(timeout=70) as client:
        yield client


@pytest.fixture
def ingest(grip: GripStack, http: httpx.AsyncClient) -> Ingest:
    return Ingest(grip.stack, http)


async def post(ingest: Ingest, article_id: str, **fields: Any) -> str:
    """Apply one article; its event id."""
    return str((await ingest.apply(article(article_id, **fields)))[0]["event_id"])


def ids_of(messages: list[dict[str, Any]]) -> list[str]:
    return [m["headline"]["id"] for m in messages]


def event_ids(messages: list[dict[str, Any]]) -> list[EventId]:
    return [EventId.parse(m["event_id"]) for m in messages]


# -- a filter nobody read before -----------------------------------------------------------------


async def test_the_first_reader_of_a_filter_gets_the_next_event_at_once(
    grip: GripStack, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    """The publisher learns of a new channel with the event, not a refresh later: else the
    event waits for the next one on that channel (which may be hours away)."""
    async with (
        sse(http, grip.events_url, section="brand-new") as reader,
        subscribe(grip.ws_url, section="brand-new") as ws,
    ):
        assert (await reader.next()).event == "hello"
        assert (await ws.next())["type"] == "hello"
        await post(ingest, "new-1", section="brand-new")
        assert (await reader.next(timeout=3)).data["headline"]["id"] == "new-1"
        assert (await ws.next(timeout=3))["headline"]["id"] == "new-1"


# -- resume --------------------------------------------------------------------------------------


async def test_an_sse_reader_resuming_through_pushpin_gets_exactly_what_it_missed(
    grip: GripStack, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    section = "resume-sse"
    await post(ingest, "rs-0", section=section)
    async with sse(http, grip.events_url, section=section) as stream:
        assert (await stream.next()).event == "hello"
        await post(ingest, "rs-1", section=section)
        await post(ingest, "rs-2", section=section)
        first = await stream.next()
        assert first.data["headline"]["id"] == "rs-1"
        # The reader drops here, having seen rs-1 only.
    for n in range(3, 6):
        await post(ingest, f"rs-{n}", section=section)
    await post(ingest, "rs-other", section="elsewhere")
    assert first.id is not None
    async with sse(http, grip.events_url, last_event_id=first.id, section=section) as stream:
        assert (await stream.next()).event == "hello"
        replayed = await stream.take(4)
        await post(ingest, "rs-6", section=section)
        live = await stream.next()
    got = [m.data for m in [*replayed, live]]
    assert ids_of(got) == ["rs-2", "rs-3", "rs-4", "rs-5", "rs-6"]
    assert all(m.id == m.data["event_id"] for m in [*replayed, live])
    assert min(event_ids(got)) > EventId.parse(first.id)
    assert event_ids(got) == sorted(set(event_ids(got)))


async def test_a_websocket_reader_resuming_with_since_through_pushpin(
    grip: GripStack, ingest: Ingest
) -> None:
    section = "resume-ws"
    async with subscribe(grip.ws_url, section=section) as stream:
        assert (await stream.next())["type"] == "hello"
        await post(ingest, "rw-1", section=section)
        first = await stream.next()
        assert first["headline"]["id"] == "rw-1"
    for n in range(2, 5):
        await post(ingest, f"rw-{n}", section=section)
    async with subscribe(grip.ws_url, section=section, since=first["event_id"]) as stream:
        hello = await stream.next()
        assert hello["type"] == "hello"
        replayed = await stream.take(3)
        await post(ingest, "rw-5", section=section)
        live = await stream.next()
    got = [*replayed, live]
    assert ids_of(got) == ["rw-2", "rw-3", "rw-4", "rw-5"]
    assert min(event_ids(got)) > EventId.parse(first["event_id"])
    assert event_ids(got) == sorted(set(event_ids(got)))


# -- Pushpin restarts; the proxy misses an item ----------------------------------------------------


async def test_an_event_posted_while_pushpin_is_down_reaches_every_reader_once(
    grip: GripStack, ingest: Ingest
) -> None:
    section = "restart"
    sse_readers = [await RawSse(grip.pushpin.url, section=section).open() for _ in range(10)]
    ws_readers = []
    ws_contexts = []
    for _ in range(3):
        context = subscribe(grip.ws_url, section=section)
        ws_contexts.append(context)
        ws_readers.append(await context.__aenter__())
    try:
        for ws in ws_readers:
            assert (await ws.next())["type"] == "hello"
        await post(ingest, "pp-0", section=section)
        for reader in sse_readers:
            await asyncio.wait_for(reader.until(lambda m: len(m) == 2), 5)
        ws_seen = [[await ws.next()] for ws in ws_readers]

        failures = await asyncio.to_thread(grip.failures)
        grip.pushpin._stop_pushpin()  # Pushpin goes down: every reader's connection ends
        await eventually(_ended(sse_readers), 10, "the SSE readers saw their streams end")
        down = await post(ingest, "pp-1", section=section)
        # The publisher could not publish it, and says so; it keeps retrying.
        await asyncio.to_thread(wait_for, lambda: grip.failures() > failures, 10)
        grip.pushpin.start()

        # The readers come back as EventSource does (Last-Event-ID) and as the page's
        # WebSocket does (?since= the last event it has).
        again = [
            await RawSse(grip.pushpin.url, section=section).open(last_event_id=r.last_id())
            for r in sse_readers
        ]
        for context in ws_contexts:
            await context.__aexit__(None, None, None)
        ws_contexts = []
        ws_readers = []
        for seen in ws_seen:
            context = subscribe(grip.ws_url, section=section, since=seen[-1]["event_id"])
            ws_contexts.append(context)
            ws_readers.append(await context.__aenter__())
        for ws, seen in zip(ws_readers, ws_seen, strict=True):
            assert (await ws.next())["type"] == "hello"
            seen.append(await ws.next())
        # The retried item reaches Pushpin too, after the readers had the event from the
        # origin: nobody gets it twice. Then a live event.
        await asyncio.to_thread(wait_for, lambda: grip.queued() == 0, 20)
        await post(ingest, "pp-2", section=section)
        for reader in again:
            await asyncio.wait_for(reader.until(lambda m: len(m) >= 3), 10)
        for ws, seen in zip(ws_readers, ws_seen, strict=True):
            seen.append(await ws.next())
        await post(ingest, "pp-3", section=section)  # a marker: nothing came in between
        for reader in again:
            await asyncio.wait_for(reader.until(lambda m: len(m) >= 4), 10)
            assert reader.messages[1].id == down
            assert ids_of([m.data for m in reader.events()]) == ["pp-1", "pp-2", "pp-3"]
        for ws, seen in zip(ws_readers, ws_seen, strict=True):
            seen.append(await ws.next())
            assert ids_of(seen) == ["pp-0", "pp-1", "pp-2", "pp-3"]
    finally:
        for context in ws_contexts:
            await context.__aexit__(None, None, None)
        for reader in sse_readers:
            await reader.close()


def _ended(readers: list[RawSse]) -> Any:
    async def ended() -> bool:
        return all(reader.ended for reader in readers)

    return ended


async def test_a_held_stream_recovers_an_item_the_proxy_missed_through_prev_id(
    grip: GripStack, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    """Pushpin gets an item whose prev-id is not the last id it sent the reader (an item lost
    on the way: a publisher killed with items queued, a full queue): it asks the origin's next
    link with Grip-Last and the reader gets the missed event from the origin, in order.

    The lost item is made real by stopping the publisher: two events are written while it is
    down, and only the second event's item (exactly as the publisher builds it) is published
    to Pushpin by hand. The publisher then starts again and publishes both (late): nobody gets
    either twice."""
    section = "gap"
    key = (section, None, None)
    channel = grip_protocol.channel_name(key)
    async with sse(http, grip.events_url, section=section) as reader:
        assert (await reader.next()).event == "hello"
        await post(ingest, "gap-0", section=section)
        assert (await reader.next()).data["headline"]["id"] == "gap-0"

        grip.stack.services["grip-publisher"].stop()
        missed = await post(ingest, "gap-1", section=section)
        arrives = await post(ingest, "gap-2", section=section)
        client = redis.Redis.from_url(grip.redis.url)
        try:
            [(raw_id, fields)] = client.xrange(EVENTS, arrives, arrives)
        finally:
            client.close()
        event = Event.from_entry(raw_id, fields).for_filter(*key)
        assert event is not None
        item = grip_protocol.publish_item(
            channel,
            event.id,
            EventId.parse(missed),
            sse=sse_frame(event),
            ws=event.text,
            long_poll=updates_body(event.id, [event.text]),
        )
        published = await http.post(
            grip.pushpin.publish_url + grip_protocol.PUBLISH_PATH, json={"items": [item]}
        )
        assert published.status_code == 200, published.text
        got = await reader.take(2, timeout=10)
        assert [m.data["headline"]["id"] for m in got] == ["gap-1", "gap-2"]
        assert [m.id for m in got] == [missed, arrives]

        grip.start_publisher()  # it publishes gap-1 and gap-2 again, from its saved position
        await asyncio.to_thread(wait_for, lambda: grip.queued() == 0, 20)
        await post(ingest, "gap-3", section=section)
        assert (await reader.next(timeout=10)).data["headline"]["id"] == "gap-3"


# -- reset ---------------------------------------------------------------------------------------


async def test_since_older_than_the_log_gets_reset_on_sse_websocket_and_long_poll(
    grip: GripStack, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    section = "reset"
    oldest = await post(ingest, "old", section=section)
    batch = [article(f"flood-{n}", section=section) for n in range(STREAM_MAXLEN + 20)]
    newest = (await ingest.apply({"articles": batch}))[-1]["event_id"]
    client = redis.Redis.from_url(grip.redis.url)
    try:
        assert client.xrange(EVENTS, oldest, oldest) == []  # trimmed off the log

        async with sse(http, grip.events_url, last_event_id=oldest, section=section) as stream:
            hello = await stream.next()
            reset = await stream.next()
            assert (hello.event, reset.event) == ("hello", "reset")
            assert reset.data == {"type": "reset"}
            # EventSource resumes from the reset's id: one the log has.
            assert reset.id == hello.data["event_id"] == newest
            assert client.xrange(EVENTS, reset.id, reset.id) != []
            await post(ingest, "after-reset", section=section)
            assert (await stream.next()).data["headline"]["id"] == "after-reset"
    finally:
        client.close()
    async with subscribe(grip.ws_url, section=section, since=oldest) as ws:
        assert (await ws.next())["type"] == "hello"
        assert await ws.next() == {"type": "reset"}
    answer = await http.get(grip.updates_url, params={"since": oldest, "section": section})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["events"] == [{"type": "reset"}]
    assert EventId.parse(body["event_id"]) > EventId.parse(newest)


# -- Grip-Sig ------------------------------------------------------------------------------------


async def test_requests_straight_to_the_origin_without_a_valid_grip_sig_are_refused(
    grip: GripStack, http: httpx.AsyncClient, ingest: Ingest
) -> None:
    await post(ingest, "sig-0")  # news for the direct long-poll below
    feed = grip.stack.url("feed")
    open_body = grip_protocol.ws_body([grip_protocol.WsEvent("OPEN")])
    claims = {"iss": "pushpin", "exp": int(time.time()) + 600}
    wrong = jwt.encode(claims, "not-the-key-0123456789abcdefghijk", algorithm="HS256")
    expired = jwt.encode({"iss": "pushpin", "exp": int(time.time()) - 10}, KEY, algorithm="HS256")
    # Signed with the key by another issuer (LIVEFEED_GRIP_ISS: another Fanout service, say).
    stranger = jwt.encode({**claims, "iss": "fastly:someone-else"}, KEY, algorithm="HS256")
    for sig in (None, wrong, expired, "garbage", stranger):
        headers = {} if sig is None else {"Grip-Sig": sig}
        paths = [
            ("GET", "/v1/events", {}),
            ("POST", "/v1/stream", {"Content-Type": grip_protocol.WS_EVENTS_TYPE}),
        ]
        if sig is not None:  # a long-poll with no GRIP header is a direct reader's: held by feed
            paths.append(("GET", "/v1/updates?since=0-0", {}))
        for method, path, extra in paths:
            refused = await http.request(
                method,
                feed + path,
                headers={**headers, **extra},
                content=open_body if method == "POST" else None,
            )
            assert refused.status_code == 403, (sig, path, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["errors"][0]["field"] == "Grip-Sig"
            assert "Grip-Hold" not in refused.headers
    # A long-poll with no GRIP header at all came straight here (nginx's port, a curl): feed
    # answers it itself, with no GRIP instruction.
    direct = await http.get(feed + "/v1/updates?since=0-0")
    assert direct.status_code == 200, direct.text
    assert "Grip-Hold" not in direct.headers
    assert direct.json()["events"]
    # A body over the limit is refused before it is read whole.
    huge = grip_protocol.ws_body([grip_protocol.WsEvent("TEXT", b"x" * 70_000)])
    refused = await http.post(
        feed + "/v1/stream",
        headers={"Grip-Sig": jwt.encode(claims, KEY, algorithm="HS256"),
                 "Content-Type": grip_protocol.WS_EVENTS_TYPE},
        content=huge,
    )  # fmt: skip
    assert refused.status_code == 413, refused.text
    assert refused.json()["errors"][0]["field"] == "body"
    # Signed with the key (as Pushpin signs): answered.
    good = jwt.encode(claims, KEY, algorithm="HS256")
    held = await http.get(feed + "/v1/events", headers={"Grip-Sig": good})
    assert held.status_code == 200
    assert held.headers["Grip-Hold"] == "stream"
    # Through Pushpin, which signs, all three work.
    async with sse(http, grip.events_url) as stream:
        assert (await stream.next()).event == "hello"
    async with subscribe(grip.ws_url) as ws:
        assert (await ws.next())["type"] == "hello"
    answer = await http.get(grip.updates_url, params={"since": "0-0"})
    assert answer.status_code == 200, answer.text
    assert "event_id" in answer.json()


# -- the long-poll -------------------------------------------------------------------------------


async def test_a_long_poll_through_pushpin_is_answered_by_the_next_matching_event(
    grip: GripStack, ingest: Ingest, http: httpx.AsyncClient
) -> None:
    section = "lp"
    since = await post(ingest, "lp-0", section=section)
    started = time.monotonic()
    poll = asyncio.create_task(
        http.get(grip.updates_url, params={"since": since, "section": section})
    )
    # Another section's event is published (it reaches the unfiltered channel, which earlier
    # tests use) and the poll stays held.
    other = await post(ingest, "lp-other", section="not-lp")
    client = redis.Redis.from_url(grip.redis.url)
    try:

        def published_past_other() -> bool:
            position = client.get("lf:grip:position")
            return (
                position is not None
                and EventId.parse(position) >= EventId.parse(other)
                and grip.queued() == 0
            )

        await asyncio.to_thread(wait_for, published_past_other, 10)
    finally:
        client.close()
    assert not poll.done()
    news = await post(ingest, "lp-1", section=section)
    answer = await asyncio.wait_for(poll, 10)
    assert answer.status_code == 200, answer.text
    assert time.monotonic() - started < 20  # the event, not the 50 s timeout
    body = answer.json()
    assert body["event_id"] == news
    assert [(m["type"], m["headline"]["id"]) for m in body["events"]] == [("published", "lp-1")]

    # News already there: answered at once, everything after since for the filter, in order.
    await post(ingest, "lp-2", section=section)
    started = time.monotonic()
    answer = await http.get(grip.updates_url, params={"since": since, "section": section})
    assert time.monotonic() - started < 2
    assert ids_of(answer.json()["events"]) == ["lp-1", "lp-2"]

    for bad in ("yesterday", f"{2**64}-0"):
        refused = await http.get(grip.updates_url, params={"since": bad})
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["field"] == "since"


async def test_without_grip_feed_holds_the_long_poll_itself(
    fresh: Stack, feed: Feed, http: httpx.AsyncClient
) -> None:
    """A normal stack (no LIVEFEED_GRIP, no proxy): feed holds ``/v1/updates`` and answers it
    when an event arrives."""
    async with http_client() as session:
        ingest = Ingest(fresh, session)
        since = await post(ingest, "plain-0", section="plain")
        updates = f"{fresh.url('feed')}/v1/updates"
        poll = asyncio.create_task(http.get(updates, params={"since": since, "section": "plain"}))
        await post(ingest, "plain-other", section="not-plain")
        # Feed read that event (its timeline moved past it) and still holds the poll.
        await eventually(
            _timeline_at(feed, await post(ingest, "plain-other-2", section="not-plain")),
            10,
            "feed's timeline has the other section's events",
        )
        assert not poll.done()
        news = await post(ingest, "plain-1", section="plain")
        answer = await asyncio.wait_for(poll, 10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["event_id"] == news
        assert ids_of(body["events"]) == ["plain-1"]
        refused = await http.get(updates, params={"since": "x"})
        assert (refused.status_code, refused.json()["errors"][0]["field"]) == (400, "since")


def _timeline_at(feed: Feed, event_id: str) -> Any:
    async def at() -> bool:
        body = await feed.timeline()
        return bool(EventId.parse(body["event_id"]) >= EventId.parse(event_id))

    return at
