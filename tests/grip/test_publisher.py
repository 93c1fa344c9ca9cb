"""The grip-publisher's own promises: a reader held for days keeps getting events, an item an
endpoint refuses does not block the others, a dead task stops the process, its metrics name no
credentials.

The reader's test runs behind a real Pushpin (tests/grip/conftest.py ``grip``); the endpoint's
tests run a grip-publisher on the session's stack against a small publish endpoint of their own
(``Endpoint``: it answers as Pushpin does, 200, or refuses what a test tells it to).
"""

from __future__ import annotations

import asyncio

import httpx
import redis

from shared import keys
from shared.grip import PublishTarget
from tests.grip.gripstack import GripStack, RawSse
from tests.helpers import Ingest, article, eventually
from tests.procs import wait_for


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
