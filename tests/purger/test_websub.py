"""WebSub: the feeds name the hubs, and every change pings each hub for each feed it touched,
within 2 s, at most once per second per feed. In-process: a real Redis, a StreamConsumer whose
deliver is ``WebSubPinger.accept``, a stub hub (a real HTTP server), real posts through the real
ingest and worker."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx
import pytest

from services.purger.websub import WebSubPinger
from shared.redis_client import async_client
from shared.redis_server import EmbeddedRedis
from shared.settings import Settings
from shared.stream import BLOCK_MS, StreamConsumer
from shared.topics import FEED_PATHS
from tests.helpers import Ingest, article, eventually
from tests.procs import Stack, free_port

BASE = "https://news.example"


@dataclass
class StubHub:
    """A WebSub hub that records every publish ping (and can refuse the first ones)."""

    refuse_first: int = 0
    pings: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, hub.url)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def urls(self) -> list[str]:
        with self.lock:
            return [url for _t, url in self.pings]

    def times(self, url: str) -> list[float]:
        with self.lock:
            return [t for t, u in self.pings if u == url]


@pytest.fixture
def hub() -> Iterator[tuple[StubHub, str]]:
    stub = StubHub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            with stub.lock:
                refuse = stub.refused < stub.refuse_first
                if refuse:
                    stub.refused += 1
                elif form.get("hub.mode") == ["publish"]:
                    for url in form.get("hub.url", []):
                        stub.pings.append((time.monotonic(), url))
            self.send_response(503 if refuse else 204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stub, f"http://127.0.0.1:{server.server_address[1]}/hub"
    server.shutdown()
    server.server_close()


@asynccontextmanager
async def pinging(redis_url: str, hub_url: str) -> AsyncIterator[WebSubPinger]:
    """A pinger fed by its own StreamConsumer (as the purger runs it), both running."""
    settings = Settings(websub_hubs=[hub_url], public_feed_url=BASE, redis_url=redis_url)
    pinger = WebSubPinger.from_settings(settings)
    assert pinger is not None
    client = async_client(redis_url, settings, block_ms=BLOCK_MS)
    consumer = StreamConsumer(client, "websub", pinger.accept)
    tasks = [asyncio.create_task(consumer.run()), asyncio.create_task(pinger.run())]
    await asyncio.wait_for(consumer.ready.wait(), 10)
    try:
        yield pinger
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()


def feeds(query: str = "") -> set[str]:
    return {f"{BASE}{path}{query}" for path in FEED_PATHS}


async def test_every_change_pings_each_affected_feed_within_two_seconds_once_a_second_at_most(
    ingest: Ingest, redis_server: EmbeddedRedis, hub: tuple[StubHub, str]
) -> None:
    stub, hub_url = hub
    assert WebSubPinger.from_settings(Settings(websub_hubs=[])) is None
    async with pinging(redis_server.url, hub_url) as pinger:
        posted = time.monotonic()
        await ingest.post(article("w-1", section="world", labels=["Exclusive"]))
        # ...and its edition's (an article without a language: LIVEFEED_LANGUAGE, en).
        want = feeds() | feeds("?section=world") | feeds("?label=exclusive") | feeds("?lang=en")

        async def all_pinged() -> bool:
            return set(stub.urls()) >= want

        await eventually(all_pinged, 5, "every affected feed pinged")
        assert max(min(stub.times(url)) for url in want) - posted < 2.0
        assert set(stub.urls()) == want  # nothing else: sport feeds did not change

        # A story edited 15 times in a burst: each feed at most once a second, the last
        # ping after the last change (the hub fetches the latest).
        for version in range(2, 17):
            await ingest.post(
                article("w-1", section="world", labels=["Exclusive"], version=version)
            )
        last_post = time.monotonic()

        async def caught_up() -> bool:
            return all(max(stub.times(url)) > last_post for url in want)

        await eventually(caught_up, 10, "a ping after the last change")
        for url in want:
            times = stub.times(url)
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert min(gaps, default=1.0) >= 0.95, (url, gaps)
        # A move out of a section pings the feed it left as well as the one it joined.
        before = len(stub.urls())
        await ingest.post(article("w-1", section="sport", labels=["Exclusive"], version=20))

        async def moved() -> bool:
            later = stub.urls()[before:]
            return set(later) >= feeds("?section=world") | feeds("?section=sport")

        await eventually(moved, 5, "both sections' feeds pinged")
        assert pinger.stats.failed == 0


async def test_a_hub_that_refuses_is_retried(
    ingest: Ingest, redis_server: EmbeddedRedis, hub: tuple[StubHub, str]
) -> None:
    stub, hub_url = hub
    stub.refuse_first = 2
    async with pinging(redis_server.url, hub_url) as pinger:
        await ingest.post(article("r-1"))

        async def all_pinged() -> bool:
            return set(stub.urls()) >= feeds()

        await eventually(all_pinged, 5, "pinged despite the refusals")
        assert stub.refused == 2

        # The hub notes a refusal before the pinger has read the 503: wait for it to count both.
        async def both_retried() -> bool:
            return pinger.stats.retried >= 2

        await eventually(both_retried, 5, "both refusals retried")


async def test_the_feeds_name_the_hubs_and_themselves(
    fresh: Stack, http: httpx.AsyncClient
) -> None:
    port = free_port()
    hubs = "https://hub-a.example/,https://hub-b.example/"
    fresh.start_service(
        "feed", "feed-websub", LIVEFEED_FEED_PORT=str(port), LIVEFEED_WEBSUB_HUBS=hubs
    )
    try:
        fresh.wait_healthy("feed", port)
        base = f"http://127.0.0.1:{port}"
        rss = ET.fromstring((await http.get(f"{base}/feed.rss?section=world")).content)  # noqa: S314
        links = {
            (link.get("rel"), link.get("href"))
            for link in rss.iter("{http://www.w3.org/2005/Atom}link")
            if link.get("rel") != "alternate"  # the editions' (hreflang): tests/feed
        }
        assert links == {
            ("self", f"{base}/feed.rss?section=world"),
            ("hub", "https://hub-a.example/"),
            ("hub", "https://hub-b.example/"),
        }
        atom = ET.fromstring((await http.get(f"{base}/feed.atom")).content)  # noqa: S314
        rels = [
            (link.get("rel"), link.get("href"))
            for link in atom.findall("{http://www.w3.org/2005/Atom}link")
        ]
        assert ("self", f"{base}/feed.atom") in rels
        assert ("hub", "https://hub-a.example/") in rels
        body = (await http.get(f"{base}/feed.json?label=key")).json()
        assert body["feed_url"] == f"{base}/feed.json?label=key"
        assert body["hubs"] == [
            {"type": "WebSub", "url": "https://hub-a.example/"},
            {"type": "WebSub", "url": "https://hub-b.example/"},
        ]
        # A feed on two filters is never pinged, so it names no hub.
        both = (await http.get(f"{base}/feed.json?section=world&label=key")).json()
        assert "hubs" not in both
    finally:
        fresh.services.pop("feed-websub").stop()


async def test_a_pinger_stopped_as_a_change_arrives_stops() -> None:
    """The purger's shutdown (and the tests' teardown) cancels the pinger; a change noted in the
    same moment must not swallow the cancel and leave it running for ever."""
    pinger = WebSubPinger(["http://127.0.0.1:9/hub"], BASE)
    task = asyncio.create_task(pinger.run())
    await asyncio.sleep(0)  # it is now waiting for work
    pinger.accept([(b"1-1", {b"sections": b"world"})])
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert done, "the pinger kept running after it was cancelled"
    assert task.cancelled()
