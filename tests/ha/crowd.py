"""Readers and a newsroom for failover tests: model clients that keep what a page would show.

A reader subscribes (WebSocket or SSE), applies each event to its copy of the timeline, drops
any event at or before the last one it applied, reconnects with ``since`` / ``Last-Event-ID``
after any loss, and on ``reset`` reloads the timeline: exactly what live.js does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from websockets.exceptions import WebSocketException

from shared.events import EventId
from tests.helpers import article
from tests.procs import Stack
from tests.sse import sse


async def load_timeline(http: httpx.AsyncClient, stack: Stack) -> tuple[dict[str, str], str]:
    """Every item on the timeline (id -> title, paging through) and the first page's event_id."""
    items: dict[str, str] = {}
    event_id, before = "", None
    while True:
        params = {"limit": "200", **({"before": before} if before else {})}
        response = await http.get(f"{stack.url('feed')}/v1/timeline", params=params)
        response.raise_for_status()
        body = response.json()
        event_id = event_id or body["event_id"]
        for day in body["days"]:
            for item in day["items"]:
                assert item["id"] not in items, f"{item['id']} twice on the timeline"
                items[item["id"]] = item["title"]
        before = body["next"]
        if not before:
            return items, event_id


@dataclass
class Reader:
    """One subscriber that never gives up until ``stop`` is set."""

    stack: Stack
    http: httpx.AsyncClient
    sse: bool
    shown: dict[str, str] = field(default_factory=dict)
    last: str | None = None
    resets: int = 0
    reconnects: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Subscribe, apply, resume; until stopped."""
        while not self.stop.is_set():
            try:
                if self.last is None:  # the page: its timeline, then the stream since its id
                    self.shown, self.last = await load_timeline(self.http, self.stack)
                if self.sse:
                    await self._sse()
                else:
                    await self._ws()
            except (OSError, TimeoutError, EOFError, WebSocketException, httpx.HTTPError):
                pass
            if self.stop.is_set():
                return
            self.reconnects += 1
            await asyncio.sleep(random.uniform(0.1, 0.5))  # a client's jittered backoff

    async def _ws(self) -> None:
        url = f"{self.stack.ws_url}?since={self.last}"
        async with websockets.connect(url, open_timeout=5) as ws:
            while not self.stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                await self.handle(json.loads(raw))

    async def _sse(self) -> None:
        url = f"http://127.0.0.1:{self.stack.ports['push']}/v1/events"
        async with sse(self.http, url, last_event_id=self.last) as stream:
            while not self.stop.is_set():
                try:
                    message = await stream.next(timeout=0.5)
                except TimeoutError:
                    continue
                await self.handle({"type": message.event, **message.data})

    async def handle(self, message: dict[str, Any]) -> None:
        """Apply one message as the live page does."""
        kind = message.get("type")
        if kind == "hello":
            return
        if kind == "reset":
            self.resets += 1
            self.shown, _ = await load_timeline(self.http, self.stack)
            return
        event_id = str(message["event_id"])
        assert self.last is not None
        if EventId.parse(event_id) <= EventId.parse(self.last):
            return
        self.last = event_id
        headline = message["headline"]
        if kind == "retracted":
            self.shown.pop(headline["id"], None)
        else:
            self.shown[headline["id"]] = headline["title"]


@dataclass
class Newsroom:
    """Posts batches at a steady rate; records every answer and when it came."""

    stack: Stack
    http: httpx.AsyncClient
    per_second: int
    batch: int
    accepted: set[str] = field(default_factory=set)
    answers: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, status)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Post ``batch`` articles every ``batch / per_second`` s until stopped."""
        interval = self.batch / self.per_second
        n = 0
        headers = {"Authorization": f"Bearer {self.stack.token}"}
        url = f"{self.stack.url('ingest')}/v1/articles"
        pending: set[asyncio.Task[None]] = set()
        while not self.stop.is_set():
            ids = [f"fo-{n + i}" for i in range(self.batch)]
            n += self.batch
            task = asyncio.ensure_future(self._post(url, headers, ids))
            pending.add(task)
            task.add_done_callback(pending.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), interval)
        if pending:
            await asyncio.wait(pending)

    async def _post(self, url: str, headers: dict[str, str], ids: list[str]) -> None:
        body = {"articles": [article(i, f"Title of {i}") for i in ids]}
        try:
            response = await self.http.post(url, json=body, headers=headers, timeout=15)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        self.answers.append((time.monotonic(), status))
        if status == 202:
            self.accepted.update(ids)

    def unavailable_window(self, after: float) -> float:
        """Seconds from the first answer other than 202 after ``after`` to the last one."""
        bad = [t for t, status in self.answers if t >= after and status != 202]
        return bad[-1] - bad[0] if bad else 0.0
