"""The grip-publisher's own promises: a reader held for days keeps getting events, an item an
endpoint refuses does not block the others, a dead task stops the process, its metrics name no
credentials.

The reader's test runs behind a real Pushpin (tests/grip/conftest.py ``grip``); the endpoint's
tests run a grip-publisher on the session's stack against a small publish endpoint of their own
(``Endpoint``: it answers as Pushpin does, 200, or refuses what a test tells it to).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from shared import keys
from shared.events import Event, EventId
from shared.grip import PublishTarget, channel_name
from tests.grip.gripstack import GripStack, RawSse
from tests.helpers import Ingest, article, eventually
from tests.procs import QuietHandler, Service, Stack, ThreadServer, free_port, wait_for


async def test_a_reader_whose_channel_dropped_out_of_use_still_gets_articles(
    grip: GripStack, http: httpx.AsyncClient
) -> None:
    ingest = Ingest(grip.stack, http)
    recovered = await recovers(http, grip)
    reader = await RawSse(grip.pushpin.url, label="pub-idle").open()
    client = redis.Redis.from_url(grip.redis.url)
    try:
        # Pushpin asks the origin once more just after it subscribes (reliable mode), which
        # marks the channel again: after that, nothing would.
        async def asked_again() -> bool:
            return await recovers(http, grip) > recovered

        await eventually(asked_again, 10, "Pushpin's recovery request")
        ours = [n for n in client.zrange(keys.GRIP_CHANNELS, 0, -1) if b"/pub-idle/" in n]
        assert ours, "the origin marks the reader's channel in use"
        # A day without a new reader on the channel (or 20,000 newer channels) and it is no
        # longer in use; Pushpin still holds the reader and never asks the origin again.
        client.zrem(keys.GRIP_CHANNELS, *ours)
        left = client.zcard(keys.GRIP_CHANNELS)
        await asyncio.to_thread(wait_for, lambda: grip.metric("livefeed_grip_channels") == left, 10)

        posted = (await ingest.apply(article("pub-idle-1", labels=["pub-idle"])))[0]
        await asyncio.wait_for(reader.until(lambda m: len(m) >= 2), 10)
        assert [(m.event, m.id) for m in reader.events()] == [
            ("published", str(posted["event_id"]))
        ]
    finally:
        await reader.close()
        client.close()


async def recovers(http: httpx.AsyncClient, grip: GripStack) -> float:
    """How often feed answered the proxy asking again for SSE readers (``kind="recover"``)."""
    text = (await http.get(f"{grip.stack.url('feed')}/metrics")).text
    prefix = 'livefeed_grip_answers_total{kind="recover",transport="sse"} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


def test_a_publish_target_label_names_no_credentials() -> None:
    target = PublishTarget.parse("https://user:secret@pushpin.example:5561/base?key=k")
    assert target.url == "https://pushpin.example:5561/base"
    assert target.endpoint.endswith("/publish/")


class Endpoint(ThreadServer):
    """A publish endpoint on a free port: records the items of each accepted request (200, as
    Pushpin answers); while ``down`` answers 503; refuses (400, as Pushpin does for an item it
    cannot take) any request with an item that contains ``refuse``."""

    def __init__(self, refuse: bytes) -> None:
        self.items: list[dict[str, Any]] = []
        self.down = True
        self.requests = 0
        self.lock = threading.Lock()
        endpoint = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with endpoint.lock:
                    endpoint.requests += 1
                    if endpoint.down:
                        status = 503
                    elif refuse in body:
                        status = 400
                    else:
                        status = 200
                        endpoint.items += json.loads(body)["items"]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def received(self) -> list[tuple[str, str]]:
        """(channel, id) of every item accepted, in order."""
        with self.lock:
            return [(item["channel"], item["id"]) for item in self.items]


@pytest.fixture
def publisher(fresh: Stack) -> Iterator[tuple[Endpoint, Service, int]]:
    """A grip-publisher on the session's stack, publishing to an ``Endpoint`` that is down
    until the test brings it up and refuses the items of the article ``pub-refused``."""
    endpoint = Endpoint(refuse=b"pub-refused")
    port = free_port()
    service = fresh.start_service(
        "grip-publisher",
        LIVEFEED_GRIP_PUBLISH=endpoint.url,
        LIVEFEED_GRIP_PUBLISHER_PORT=str(port),
    )
    try:
        fresh.wait_healthy("grip-publisher", port=port)
        yield endpoint, service, port
    finally:
        service.stop()
        endpoint.close()


def metric(port: int, name: str) -> float:
    """The sum of a metric's samples on the /metrics of ``port``."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + "{", name + " "))
    )


def channels_of(client: redis.Redis, event_id: str) -> list[str]:
    """The channels an event is published on (its filters, now and left), in publish order."""
    [(raw_id, fields)] = client.xrange(keys.EVENTS, event_id, event_id)
    now, left = Event.from_entry(raw_id, fields).filter_keys()
    return [channel_name(key) for key in sorted(now | left, key=str)]


async def test_an_item_the_endpoint_refuses_is_dropped_alone_and_the_rest_published(
    publisher: tuple[Endpoint, Service, int], ingest: Ingest, redis_client: redis.Redis
) -> None:
    endpoint, _, port = publisher
    # Three articles wait in one queue while the endpoint is down; it then refuses the second
    # one's items (one per channel it reaches), and only those.
    ids = []
    for name, labels in (("pub-ok-1", ["a"]), ("pub-refused", ["b"]), ("pub-ok-2", ["a", "c"])):
        ids.append(str((await ingest.apply(article(name, labels=labels)))[0]["event_id"]))
    channels = {event_id: channels_of(redis_client, event_id) for event_id in ids}
    total = sum(len(names) for names in channels.values())
    await asyncio.to_thread(
        wait_for, lambda: metric(port, "livefeed_grip_queue_items") == total, 10
    )
    endpoint.down = False

    ok = [(channel, event_id) for event_id in (ids[0], ids[2]) for channel in channels[event_id]]
    await asyncio.to_thread(wait_for, lambda: len(endpoint.received()) >= len(ok), 10)
    assert sorted(endpoint.received()) == sorted(ok)
    for channel in channels[ids[2]]:  # each channel's items in order
        mine = [i for c, i in endpoint.received() if c == channel]
        assert mine == sorted(mine, key=EventId.parse)
    refused = len(channels[ids[1]])
    assert metric(port, "livefeed_grip_items_rejected_total") == refused
    assert metric(port, "livefeed_grip_items_published_total") == len(ok)
    assert metric(port, "livefeed_grip_queue_items") == 0

    # Nothing is stuck: the next article goes straight through.
    after = str((await ingest.apply(article("pub-ok-3")))[0]["event_id"])
    await asyncio.to_thread(wait_for, lambda: any(i == after for _, i in endpoint.received()), 10)


async def test_a_task_that_dies_stops_the_process(fresh: Stack, ingest: Ingest) -> None:
    # An SSH public key pasted as the key of a JWT-signed endpoint: PyJWT refuses it as an
    # HMAC secret at the first publish, which kills that endpoint's task. A process that
    # stayed up would look ready and publish nothing.
    endpoint = Endpoint(refuse=b"nothing refused")
    endpoint.down = False
    port = free_port()
    service = fresh.start_service(
        "grip-publisher",
        LIVEFEED_GRIP_PUBLISH=f"{endpoint.url}/?iss=livefeed&key=ssh-rsa%20AAAAB3NzaC1yc2E",
        LIVEFEED_GRIP_PUBLISHER_PORT=str(port),
    )
    try:
        fresh.wait_healthy("grip-publisher", port=port)
        await ingest.apply(article("pub-dies"))
        assert service.process is not None
        process = service.process
        await asyncio.to_thread(wait_for, lambda: process.poll() is not None, 15)
        assert process.returncode == 1
        log = service.log_path.read_text()
        assert f"publish {endpoint.url}/ ended, exiting" in log, log[-2000:]
        assert "InvalidKeyError" in log
    finally:
        service.stop()
        endpoint.close()
