"""Events in, purges out: one queue per backend, coalesced, retried, never holding the stream.

``Purger.accept`` is the stream consumer's ``deliver``: it only adds each event's stale keys to
every backend's pending batch and returns. Each backend has its own task that waits
``COALESCE_S`` after the first key arrives (so a burst of changes becomes one request), sends
the batch, and on failure merges it back into what arrived meanwhile and retries with backoff.
A backend that is down therefore delays only its own purges; the stream, the other backends,
posting and pushing go on.

The purger keeps its position in Redis (``lf:purger:position``: the newest event every backend
acknowledged) and resumes from it after a restart, so changes made while it was down are still
purged. When the log no longer reaches back that far (or events were trimmed before it read
them), it purges every view it can name: ``timeline``, every section and every label.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import httpx
import redis.asyncio as aredis
from redis.exceptions import RedisError

from services.purger.affected import Stale, stale_keys
from services.purger.metrics import (
    PURGE_FAILURES,
    PURGE_QUEUE,
    PURGE_QUEUE_AGE,
    PURGE_SECONDS,
    PURGES,
)
from shared import keys
from shared.edgekeys import (
    PURGE_SECRET_HEADER,
    TIMELINE,
    label_key,
    section_key,
    summary_key,
)
from shared.events import Entry, EventId
from shared.stream import latest_id

log = logging.getLogger(__name__)

COALESCE_S = 0.1  # a batch waits this long after its first key for more to join it
BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
TIMEOUT_S = 5.0  # one purge request
MAX_HEADER_CHARS = 4_000  # keys per xkey header, well under Varnish's 8 KiB header limit
SAVE_EVERY_S = 1.0


class PurgeRefusedError(Exception):
    """A backend answered something other than 2xx."""


@dataclass
class Batch:
    """Keys waiting for one backend: hard purges, soft purges, and the events they come from."""

    hard: set[str] = field(default_factory=set)
    soft: set[str] = field(default_factory=set)
    newest: EventId | None = None
    oldest_ms: int | None = None  # the oldest event's time: purge latency is measured from it

    def __len__(self) -> int:
        return len(self.hard | self.soft)

    def add(self, stale: Stale, event_id: EventId) -> None:
        (self.hard if stale.hard else self.soft).update(stale.keys)
        self.newest = event_id if self.newest is None else max(self.newest, event_id)
        if self.oldest_ms is None:
            self.oldest_ms = event_id.ms

    def merge(self, later: Batch) -> Batch:
        """This (failed) batch and what arrived while it was being sent, as one."""
        merged = Batch(self.hard | later.hard, self.soft | later.soft, self.newest, self.oldest_ms)
        if later.newest is not None:
            merged.newest = max(later.newest, self.newest or later.newest)
        return merged


class Backend(Protocol):
    @property
    def name(self) -> str:
        """The backend's URL: its metrics label."""

    async def send(self, http: httpx.AsyncClient, batch: Batch) -> None:
        """Purge ``batch``; raise ``httpx.HTTPError`` or ``PurgeRefusedError`` if not acked."""


def _chunks(keys_: Iterable[str], limit: int) -> list[str]:
    """Space-separated header values of at most ``limit`` characters each."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for key in sorted(keys_):
        if current and size + len(key) + 1 > limit:
            out.append(" ".join(current))
            current, size = [], 0
        current.append(key)
        size += len(key) + 1
    if current:
        out.append(" ".join(current))
    return out


def _check(response: httpx.Response) -> None:
    if not response.is_success:
        raise PurgeRefusedError(f"{response.status_code} {response.reason_phrase}")


@dataclass(frozen=True)
class VarnishBackend:
    """``PURGE <url>`` with ``xkey-purge`` (hard) or ``xkey-softpurge`` (soft): the xkey vmod,
    as deploy/varnish/default.vcl wires it, which admits it only with ``secret`` in
    ``X-Purge-Secret`` (LIVEFEED_PURGE_SECRET)."""

    name: str
    secret: str = field(default="", repr=False)

    async def send(self, http: httpx.AsyncClient, batch: Batch) -> None:
        for header, chosen in (
            ("xkey-purge", batch.hard),
            ("xkey-softpurge", batch.soft - batch.hard),
        ):
            for value in _chunks(chosen, MAX_HEADER_CHARS):
                headers = {header: value, PURGE_SECRET_HEADER: self.secret}
                _check(await http.request("PURGE", self.name, headers=headers))


@dataclass(frozen=True)
class WebhookBackend:
    """``POST <url>`` ``{"surrogate_keys": [...], "event_id": "..."}``: a CDN adapter
    (Fastly, Cloudflare) or a site's own purger takes it from there."""

    name: str

    async def send(self, http: httpx.AsyncClient, batch: Batch) -> None:
        body = {"surrogate_keys": sorted(batch.hard | batch.soft), "event_id": str(batch.newest)}
        _check(await http.post(self.name, json=body))


class BackendQueue:
    """One backend's pending keys and the task that sends them."""

    def __init__(self, backend: Backend, http: httpx.AsyncClient) -> None:
        self.backend = backend
        self.http = http
        self.pending = Batch()
        self.acked: EventId | None = None  # the newest event this backend purged
        self.wake = asyncio.Event()
        self._queued = PURGE_QUEUE.labels(backend.name)
        self._age = PURGE_QUEUE_AGE.labels(backend.name)
        self._purged = PURGES.labels(backend.name)
        self._failed = PURGE_FAILURES.labels(backend.name)
        self._latency = PURGE_SECONDS.labels(backend.name)
        self._age.set_function(self._oldest_age)

    def _oldest_age(self) -> float:
        oldest = self.pending.oldest_ms
        return 0.0 if oldest is None else max(0.0, time.time() - oldest / 1000)

    def add(self, stale: Stale, event_id: EventId) -> None:
        self.pending.add(stale, event_id)
        self._queued.set(len(self.pending))
        self.wake.set()

    async def run(self) -> None:
        failures = 0
        while True:
            await self.wake.wait()
            if failures == 0:
                await asyncio.sleep(COALESCE_S)  # let the rest of a burst join
            batch, self.pending = self.pending, Batch()
            self.wake.clear()
            try:
                await self.backend.send(self.http, batch)
            except (httpx.HTTPError, PurgeRefusedError) as exc:
                self._failed.inc()
                if failures == 0:
                    log.warning("purge via %s failed, retrying: %s", self.backend.name, exc)
                self.pending = batch.merge(self.pending)
                self._queued.set(len(self.pending))
                self.wake.set()
                await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
                failures += 1
                continue
            if failures:
                log.info("purge via %s works again", self.backend.name)
            failures = 0
            self._purged.inc()
            if batch.oldest_ms is not None:
                self._latency.observe(max(0.0, time.time() - batch.oldest_ms / 1000))
            self.acked = batch.newest or self.acked
            self._queued.set(len(self.pending))


class Purger:
    """Every backend's queue, fed by the process's stream consumer."""

    def __init__(self, client: aredis.Redis, backends: list[Backend]) -> None:
        self.client = client
        self.http = httpx.AsyncClient(timeout=TIMEOUT_S)
        self.queues = [BackendQueue(backend, self.http) for backend in backends]

    async def start(self) -> EventId:
        """Where the stream consumer starts: the saved position if the log still has what
        follows it; else the newest event, after purging every view (what changed is unknown).
        """
        saved, horizon = await asyncio.gather(
            self.client.get(keys.PURGER_POSITION), self.client.get(keys.EVENTS_HORIZON)
        )
        newest = await latest_id(self.client)
        if isinstance(saved, bytes):
            position = EventId.parse(saved)
            trimmed = EventId.parse(horizon) if isinstance(horizon, bytes) else None
            if (trimmed is None or position > trimmed) and position <= newest:
                self._acked_up_to(position)
                return position
            await self.purge_everything(newest)
        self._acked_up_to(newest)
        return newest

    def _acked_up_to(self, position: EventId) -> None:
        for queue in self.queues:
            queue.acked = max(queue.acked or position, position)

    def gap(self, newest: EventId) -> None:
        """The consumer resumes at ``newest`` after events it never saw: handled by ``start``,
        which purges every view before the consumer resumes."""

    async def purge_everything(self, newest: EventId) -> None:
        """Every view the edge may hold: ``timeline``, each section and each label (and,
        through the whole feed's summary key, which each names, every view showing a summary)."""
        names = {TIMELINE, summary_key(None, None)}
        for prefix, key_of in ((keys.SECTION_PREFIX, section_key), (keys.LABEL_PREFIX, label_key)):
            async for raw in self.client.scan_iter(match=f"{prefix}*", count=1000):
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
                names.add(key_of(name.removeprefix(prefix)))
        log.warning("purger missed events; purging every view (%d keys)", len(names))
        everything = Stale(frozenset(names), hard=True)
        for queue in self.queues:
            queue.add(everything, newest)

    def accept(self, entries: list[Entry]) -> None:
        """The stream consumer's ``deliver``: queue each event's keys for every backend."""
        for raw_id, fields in entries:
            event_id = EventId.parse(raw_id)
            stale = stale_keys(fields)
            for queue in self.queues:
                queue.add(stale, event_id)

    async def save_positions(self) -> None:
        """Store the newest event every backend acknowledged, once a second when it moves."""
        saved: EventId | None = None
        while True:
            await asyncio.sleep(SAVE_EVERY_S)
            acked = [queue.acked for queue in self.queues]
            if not acked or any(a is None for a in acked):
                continue
            position = min(a for a in acked if a is not None)
            if position == saved:
                continue
            try:
                await self.client.set(keys.PURGER_POSITION, str(position))
            except RedisError as exc:  # the consumer reports the outage; saved next time
                log.debug("purger position not saved: %s", exc)
                continue
            saved = position

    async def aclose(self) -> None:
        await self.http.aclose()
