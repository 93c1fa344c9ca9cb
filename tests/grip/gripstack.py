"""A livefeed stack behind a real Pushpin, as an operator runs it with ``LIVEFEED_GRIP`` on.

``GripStack`` is ingest + worker + feed (the GRIP origin) + push on an embedded Redis of its own,
Debian's Pushpin in front of feed (tests/pushpin.py, signing with ``KEY``), and
``livefeed grip-publisher`` publishing to Pushpin's publish endpoint. Readers connect to
``pushpin.url``; tests read the publisher's metrics and count the origin's sockets.

Also here: cheap raw clients (an SSE reader on a bare asyncio connection, for thousands of
readers) and the few readers' helpers the GRIP tests share.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.procs import Stack, free_port, wait_for
from tests.pushpin import Pushpin

KEY = "grip-test-key-0123456789abcdef0123"  # LIVEFEED_GRIP_KEY and Pushpin's sig_key
STREAM_MAXLEN = 300  # small: a test can push events off the log (reset)


@dataclass
class GripStack:
    """A GRIP stack: the services, Pushpin in front of feed, the grip-publisher."""

    redis: EmbeddedRedis
    stack: Stack
    pushpin: Pushpin
    publisher_port: int = field(default_factory=free_port)

    @classmethod
    def start(cls, workdir: Path | None = None, **env: str) -> GripStack:
        workdir = workdir or short_tmpdir()
        redis = EmbeddedRedis(workdir / "redis")
        redis.__enter__()
        stack = Stack(
            redis.url,
            workdir,
            extra_env={
                "LIVEFEED_GRIP": "1",
                "LIVEFEED_GRIP_KEY": KEY,
                "LIVEFEED_GRIP_ISS": "pushpin",  # Pushpin's sig_iss
                "LIVEFEED_STREAM_MAXLEN": str(STREAM_MAXLEN),
                "LIVEFEED_INGEST_RATE_LIMIT": "1000000",
                **env,
            },
        )
        try:
            stack.start()
            pushpin = Pushpin(workdir, stack.ports["feed"], sig_key=KEY).start()
        except BaseException:
            stack.stop()
            redis.__exit__(None, None, None)
            raise
        grip = cls(redis, stack, pushpin)
        try:
            grip.start_publisher()
        except BaseException:
            grip.stop()
            raise
        return grip

    def start_publisher(self) -> None:
        self.stack.start_service(
            "grip-publisher",
            LIVEFEED_GRIP_PUBLISH=self.pushpin.publish_url,
            LIVEFEED_GRIP_PUBLISHER_PORT=str(self.publisher_port),
        )
        self.stack.wait_healthy("grip-publisher", port=self.publisher_port)

    def stop(self) -> None:
        self.pushpin.stop()
        self.stack.stop()
        self.redis.__exit__(None, None, None)

    # -- where readers go ---------------------------------------------------------------------

    @property
    def events_url(self) -> str:
        """SSE through Pushpin."""
        return f"{self.pushpin.url}/v1/events"

    @property
    def ws_url(self) -> str:
        """The WebSocket stream through Pushpin (WebSocket-over-HTTP to feed)."""
        return f"ws://127.0.0.1:{self.pushpin.http_port}/v1/stream"

    @property
    def updates_url(self) -> str:
        """The long-poll through Pushpin."""
        return f"{self.pushpin.url}/v1/updates"

    # -- what the publisher says --------------------------------------------------------------

    def metric(self, name: str) -> float:
        """The sum of a publisher metric's samples (every target)."""
        text = httpx.get(f"http://127.0.0.1:{self.publisher_port}/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def published(self) -> float:
        return self.metric("livefeed_grip_items_published_total")

    def failures(self) -> float:
        return self.metric("livefeed_grip_publish_failures_total")

    def queued(self) -> float:
        return self.metric("livefeed_grip_queue_items")

    def wait_channels(self, count: int, timeout: float = 10) -> None:
        """Until the publisher publishes on at least ``count`` channels."""
        wait_for(lambda: self.metric("livefeed_grip_channels") >= count, timeout)

    def logs(self) -> str:
        return self.stack.logs() + "\n" + self.pushpin.log_text()


# -- the origin's sockets ------------------------------------------------------------------------


def established_tcp(pid: int) -> int:
    """ESTABLISHED TCP connections held by process ``pid`` (its own fds, matched by inode in
    /proc/net/tcp and tcp6): what an operator counts with ``ss -tp``."""
    inodes: set[str] = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[3] == "01" and fields[9] in inodes:
                    count += 1
    return count


# -- a cheap SSE reader --------------------------------------------------------------------------


@dataclass
class Message:
    """One SSE message: ``event``, ``id`` (None when absent), ``data`` parsed."""

    event: str
    id: str | None
    data: dict[str, Any]


_FIELD = re.compile(r"^(\w*):? ?(.*)$")


class RawSse:
    """An SSE reader on a bare asyncio connection (HTTP/1.1, chunked): thousands are cheap."""

    def __init__(self, base: str, path: str = "/v1/events", **params: str) -> None:
        host_port = base.split("://", 1)[1]
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        query = urlencode(params)
        self.target = f"{path}?{query}" if query else path
        self.messages: list[Message] = []
        self.ended = False
        self.error: BaseException | None = None
        self.got = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self, last_event_id: str | None = None, timeout: float = 20) -> RawSse:
        """Connect and read until the hello; the rest is read in the background."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), timeout
        )
        self._writer = writer
        head = f"GET {self.target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += "Accept: text/event-stream\r\n"
        if last_event_id is not None:
            head += f"Last-Event-ID: {last_event_id}\r\n"
        writer.write((head + "\r\n").encode())
        status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        assert status.startswith(b"HTTP/1.1 200"), status
        assert b"transfer-encoding: chunked" in status.lower(), status
        self._task = asyncio.create_task(self._read(reader))
        await asyncio.wait_for(self.until(lambda m: len(m) >= 1), timeout)
        assert self.messages[0].event == "hello", self.messages
        return self

    async def until(self, done: Any) -> None:
        while not done(self.messages):
            if self.ended:
                raise EOFError(f"stream ended: {self.messages}")
            self.got.clear()
            await self.got.wait()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        try:
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                buffer += chunk[:-2]
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    message = _parse(block.decode())
                    if message is not None:
                        self.messages.append(message)
                        self.got.set()
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self.error = exc
        finally:
            self.ended = True
            self.got.set()

    def events(self) -> list[Message]:
        """Every message but hello."""
        return [m for m in self.messages if m.event != "hello"]

    def last_id(self) -> str | None:
        ids = [m.id for m in self.messages if m.id is not None]
        return ids[-1] if ids else None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _parse(block: str) -> Message | None:
    event, event_id, data = "message", None, []
    for line in block.split("\n"):
        match = _FIELD.match(line)
        if match is None:
            continue
        name, value = match.groups()
        if name == "event":
            event = value
        elif name == "id":
            event_id = value
        elif name == "data":
            data.append(value)
    if not data:
        return None  # comments, retry
    return Message(event, event_id, json.loads("\n".join(data)))


Shape = tuple[str, str, str | None, str | None]


def shape(message: dict[str, Any]) -> Shape:
    """What a reader notices of an event message: type, event id, article id, reason."""
    headline = message.get("headline") or {}
    return message["type"], message["event_id"], headline.get("id"), message.get("reason")
