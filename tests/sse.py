"""A small real SSE client over httpx: reads ``text/event-stream`` messages as they arrive."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SseMessage:
    """One message: its ``event``, ``id`` (None when absent) and data (parsed JSON)."""

    event: str
    id: str | None
    data: dict[str, Any]


@dataclass
class SseStream:
    """An open SSE response."""

    response: httpx.Response
    lines: AsyncIterator[str]
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    async def next(self, timeout: float = 5.0) -> SseMessage:
        """The next message (comments and ``retry`` are recorded, not returned)."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> SseMessage:
        event, event_id, data = "message", None, []
        async for line in self.lines:
            if line == "":
                if data:
                    return SseMessage(event, event_id, json.loads("\n".join(data)))
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                self.comments.append(value)
            elif name == "event":
                event = value
            elif name == "id":
                event_id = value
            elif name == "data":
                data.append(value)
            elif name == "retry":
                self.retry = int(value)
        raise EOFError("the stream ended")

    async def take(self, count: int, timeout: float = 5.0) -> list[SseMessage]:
        """The next ``count`` messages."""
        return [await self.next(timeout) for _ in range(count)]


@asynccontextmanager
async def sse(
    client: httpx.AsyncClient, url: str, last_event_id: str | None = None, **params: str
) -> AsyncIterator[SseStream]:
    """Open ``url`` as an event stream; the hello is left for the test to read."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    request = client.build_request("GET", url, params=params, headers=headers, timeout=None)
    response = await client.send(request, stream=True)
    try:
        yield SseStream(response, response.aiter_lines())
    finally:
        await response.aclose()
