"""Who is reading now, as one push process sees it: counted as readers come and go, reported to
Redis on a timer (shared/audience.py has the format, the sum and what is kept).

A reader is counted when its stream opens (``join``: its filter group, its transport and the
tabs its page says it serves, ``?tabs=``), recounted when its page says the number of tabs
changed (a WebSocket message, ``retab``), and uncounted when it goes (``leave``, idempotent).
Fan-out never touches these counts: a frame costs nothing more with them. Every
``LIVEFEED_AUDIENCE_INTERVAL`` one task writes the counts (one report, a few hundred bytes
whatever the readers), reads every process's report back, and raises the minute's maximum to
the sum. Newly published articles are kept with that sum (``published``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid

import redis.asyncio as aredis
from redis.exceptions import RedisError

from services.push.connection import Connection
from shared import audience
from shared.audience import Counts, Group

log = logging.getLogger(__name__)


class AudienceCounter:
    """This process's readers by (filter group, transport): plain integers, changed at connect,
    disconnect and a change of tabs only."""

    def __init__(self) -> None:
        self.groups: dict[tuple[Group, bool], Counts] = {}

    def join(self, conn: Connection, tabs: int) -> None:
        """Count a reader whose stream just opened, serving ``tabs`` tabs (1 or more)."""
        if conn.tabs:
            return
        conn.tabs = tabs
        self.groups.setdefault((conn.key, conn.sse), Counts()).add(1, tabs)

    def retab(self, conn: Connection, tabs: int) -> None:
        """The reader's page now serves ``tabs`` tabs."""
        if not conn.tabs or conn.tabs == tabs:
            return
        self.groups[(conn.key, conn.sse)].tabs += tabs - conn.tabs
        conn.tabs = tabs

    def leave(self, conn: Connection) -> None:
        """Uncount a reader that is going (once, however often it is called)."""
        if not conn.tabs:
            return
        gkey = (conn.key, conn.sse)
        counts = self.groups[gkey]
        counts.readers -= 1
        counts.tabs -= conn.tabs
        conn.tabs = 0
        if not counts.readers:
            del self.groups[gkey]

    def report(self) -> bytes:
        """The counts as this process reports them."""
        return audience.encode_report(self.groups)


class AudienceReporter:
    """The one task that reports this process's counts and keeps the minute's maximum."""

    def __init__(self, client: aredis.Redis, counter: AudienceCounter, interval: float) -> None:
        self.client = client
        self.counter = counter
        self.interval = interval
        self.process_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.readers: int | None = None  # the sum over every process, as last read
        self._published: list[str] = []
        self._keeping: asyncio.Task[None] | None = None
        self._failing = False

    async def run(self) -> None:
        """Report every interval until cancelled; a Redis failure is logged once and retried."""
        while True:
            try:
                await self.report_once()
                if self._failing:
                    log.info("reporting readers to Redis again")
                self._failing = False
            except RedisError as exc:
                if not self._failing:
                    log.warning("cannot report readers to Redis (retrying): %s", exc)
                self._failing = True
            except Exception:  # a bug here must not end the reports: say so, go on
                log.exception("reporting readers failed")
            await asyncio.sleep(self.interval)

    async def report_once(self) -> None:
        """Write this process's report, read the sum, raise the minute's maximum."""
        await audience.write_report(
            self.client, self.process_id, self.counter.report(), self.interval
        )
        now = await audience.read(self.client)
        await audience.record_minute(self.client, now.readers, now.at)
        self.readers = now.readers

    async def stop(self) -> None:
        """Out of the sum at once (best effort: otherwise the report expires)."""
        try:
            await audience.drop_report(self.client, self.process_id)
        except RedisError as exc:
            log.info("readers report left to expire: %s", exc)

    def published(self, article: bytes) -> None:
        """An article was just published: keep the readers now with it (written in the
        background, in batches; nothing when the sum is not known yet)."""
        if self.readers is None:
            return
        self._published.append(article.decode())
        if self._keeping is None or self._keeping.done():
            task = asyncio.get_running_loop().create_task(self._keep(), name="audience-keep")
            self._keeping = task

    async def _keep(self) -> None:
        while self._published:
            batch, self._published = self._published, []
            try:
                await audience.keep_at_publication(self.client, batch, self.readers or 0)
            except RedisError as exc:
                log.warning(
                    "readers at publication not kept for %d article(s): %s", len(batch), exc
                )
