"""WebSub publishing: every change pings each hub (``hub.mode=publish``, ``hub.url=<feed>``) for
each feed it touched, at most once per second per feed, so aggregators fetch a feed when it
changes instead of polling it.

A ``StreamConsumer``'s ``deliver`` hands the entries to :meth:`WebSubPinger.accept`, which only
notes the feed URLs that changed (it never blocks the stream); :meth:`WebSubPinger.run` sends the
pings: a feed noted again within a second of its last ping is pinged once more when that second
is up (the hub then fetches the latest), and a ping a hub refused or could not take is retried
with backoff. The URLs are exactly those the feeds advertise as ``rel="self"`` (``shared.topics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import httpx

from shared.events import SUMMARY, Entry
from shared.settings import Settings
from shared.topics import changed_feeds

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 1.0  # per feed URL: at most one ping a second
RETRIES = 3
RETRY_BACKOFF_S = (0.2, 1.0, 3.0)
TIMEOUT_S = 5.0
CONCURRENCY = 8  # pings in flight at once


def _csv(raw: bytes | None) -> set[str]:
    return {part for part in (raw or b"").decode().split(",") if part}


@dataclass
class PingStats:
    """Counters for metrics and /healthz."""

    sent: int = 0
    failed: int = 0  # pings given up after every retry
    retried: int = 0


@dataclass
class WebSubPinger:
    """Pings the configured hubs for every feed a change touched (see the module doc)."""

    hubs: list[str]
    feed_base: str
    client: httpx.AsyncClient | None = None
    stats: PingStats = field(default_factory=PingStats)

    def __post_init__(self) -> None:
        self._due: dict[str, float] = {}  # feed URL -> monotonic time its next ping may go
        self._last: dict[str, float] = {}  # feed URL -> when its last ping ended
        self._inflight: set[str] = set()  # feed URLs being pinged now: the next waits for it
        self._wake = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: Settings) -> WebSubPinger | None:
        """A pinger for ``LIVEFEED_WEBSUB_HUBS``; None when no hub is configured."""
        if not settings.websub_hubs:
            return None
        return cls(list(settings.websub_hubs), settings.feed_url)

    def accept(self, entries: list[Entry]) -> None:
        """Note the feeds these stream entries changed (non-blocking; the deliver callback)."""
        sections: set[str] = set()
        labels: set[str] = set()
        langs: set[str] = set()
        entries = [entry for entry in entries if entry[1].get(b"type") != SUMMARY]
        for _raw_id, fields in entries:  # a summary is in no feed: it pings no hub
            sections |= _csv(fields.get(b"sections")) | _csv(fields.get(b"psections"))
            labels |= _csv(fields.get(b"labels")) | _csv(fields.get(b"plabels"))
            langs |= _csv(fields.get(b"lang")) | _csv(fields.get(b"plang"))
        if not entries:
            return
        now = time.monotonic()
        for url in changed_feeds(self.feed_base, sections, labels, langs):
            if url not in self._due:
                last = self._last.get(url, -MIN_INTERVAL_S)
                self._due[url] = max(now, last + MIN_INTERVAL_S)
        self._wake.set()

    async def run(self) -> None:
        """Send due pings until cancelled."""
        own = self.client is None
        client = self.client or httpx.AsyncClient(timeout=TIMEOUT_S)
        limit = asyncio.Semaphore(CONCURRENCY)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                now = time.monotonic()
                due = [
                    url for url, at in self._due.items() if at <= now and url not in self._inflight
                ]
                for url in due:
                    del self._due[url]
                    self._inflight.add(url)
                    task = asyncio.create_task(self._ping_all(client, limit, url))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                self._wake.clear()
                waiting = [at for url, at in self._due.items() if url not in self._inflight]
                wait = min(waiting, default=now + 3600) - time.monotonic()
                if wait > 0:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns normally
                    # when the wake-up and a cancel arrive together, and the loop never ends.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await self._wake.wait()
        finally:
            for task in tasks:
                task.cancel()
            if own:
                await client.aclose()

    async def _ping_all(
        self, client: httpx.AsyncClient, limit: asyncio.Semaphore, url: str
    ) -> None:
        """Ping every hub for ``url``; the next ping for it goes a second after this one ended,
        so that a hub never sees two for one feed within a second."""
        try:
            await asyncio.gather(*(self._ping(client, limit, hub, url) for hub in self.hubs))
        finally:
            self._inflight.discard(url)
            ended = time.monotonic()
            self._last[url] = ended
            if url in self._due:
                self._due[url] = max(self._due[url], ended + MIN_INTERVAL_S)
            self._wake.set()

    async def _ping(
        self, client: httpx.AsyncClient, limit: asyncio.Semaphore, hub: str, url: str
    ) -> None:
        form = {"hub.mode": "publish", "hub.url": url}
        for attempt in range(RETRIES + 1):
            async with limit:
                try:
                    response = await client.post(hub, data=form)
                    if response.is_success:
                        self.stats.sent += 1
                        return
                    problem = f"answered {response.status_code}"
                except httpx.HTTPError as exc:
                    problem = str(exc) or type(exc).__name__
            if attempt == RETRIES:
                break
            self.stats.retried += 1
            await asyncio.sleep(RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)])
        self.stats.failed += 1
        log.warning("WebSub hub %s did not take the ping for %s: %s", hub, url, problem)
