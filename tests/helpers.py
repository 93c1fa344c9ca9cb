"""Clients the tests use: real HTTP to ingest/feed, real WebSockets to push."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import redis
import websockets
from websockets.asyncio.client import ClientConnection

from shared.models import MAX_ID_CHARS
from tests.procs import Stack

T = TypeVar("T")


async def eventually(
    condition: Callable[[], Awaitable[T]],
    timeout: float = 10.0,
    what: str = "condition",
    interval: float = 0.02,
) -> T:
    """Poll ``condition()`` until it returns something truthy, and return that.

    The one place the tests wait by polling: always on a condition, always with a deadline
    (failing with ``what``), never for a fixed time.
    """
    deadline = time.monotonic() + timeout
    while not (result := await condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s (last: {result!r})"
        await asyncio.sleep(interval)
    return result


# Pooled connections are dropped after this idle time, under uvicorn's keep-alive timeout (5 s):
# a request sent on a connection the server is closing at that moment fails with "Server
# disconnected without sending a response" (the client's idle limit must be the shorter one).
KEEPALIVE = httpx.Limits(keepalive_expiry=2.0)


def http_client(timeout: float = 10) -> httpx.AsyncClient:
    """An HTTP client for the services under test (``KEEPALIVE``)."""
    return httpx.AsyncClient(timeout=timeout, limits=KEEPALIVE)


async def minute_with_time_left(seconds: float) -> int:
    """Wait (at most a minute) until the clock minute has ``seconds`` left, and return it.

    For tests of the limits counted in fixed clock minutes (subscriptions, failed tokens,
    clicks): a run that would straddle two minutes gets the limit twice.
    """

    async def enough() -> bool:
        return time.time() % 60 <= 60 - seconds

    await eventually(enough, 61, f"a clock minute with {seconds:.0f} s left", interval=0.2)
    return int(time.time() // 60)


def article(article_id: str, title: str | None = None, **fields: Any) -> dict[str, Any]:
    """A valid native article with sensible defaults."""
    return {
        "id": article_id,
        "title": f"Headline {article_id}" if title is None else title,
        "published_at": fields.pop("published_at", "2024-10-24T16:55:00+03:00"),
        **fields,
    }


class Ingest:
    """An authenticated ingest client."""

    def __init__(self, stack: Stack, client: httpx.AsyncClient) -> None:
        self.stack = stack
        self.client = client
        self.base = stack.url("ingest")
        self.auth = {"Authorization": f"Bearer {stack.token}"}

    async def post(self, payload: Any, **headers: str) -> httpx.Response:
        """POST /v1/articles with JSON."""
        return await self.client.post(
            f"{self.base}/v1/articles", json=payload, headers={**self.auth, **headers}
        )

    async def post_raw(self, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        """POST /v1/articles with any bytes."""
        return await self.client.post(
            f"{self.base}/v1/articles",
            content=body,
            headers={**self.auth, "Content-Type": content_type, **headers},
        )

    async def job(self, job_id: str) -> dict[str, Any]:
        """GET /v1/jobs/{id}."""
        response = await self.client.get(f"{self.base}/v1/jobs/{job_id}", headers=self.auth)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def wait_applied(self, response: httpx.Response, timeout: float = 10) -> list[Any]:
        """Wait until the request's job is finished; return its per-item outcomes.

        Items ingest answered at once (``unchanged``/``stale``, status 200, no job) come back
        in the same form as applied ones.
        """
        assert response.status_code in (200, 202), (response.status_code, response.text)
        body = response.json()
        if response.status_code == 200 and body.get("job_id") is None:
            return [{"id": r["id"], "outcome": r["status"]} for r in body["results"]]
        assert response.status_code == 202, response.text
        job_id = body["job_id"]

        async def done() -> dict[str, Any] | None:
            report = await self.job(job_id)
            assert report["status"] != "failed", report
            return report if report["status"] == "finished" else None

        report = await eventually(done, timeout, f"job {job_id} finished")
        outcomes: list[Any] = report["results"]
        return outcomes

    async def apply(self, payload: Any) -> list[Any]:
        """Post and wait until applied."""
        return await self.wait_applied(await self.post(payload))


class Feed:
    """A feed API client."""

    def __init__(self, stack: Stack, client: httpx.AsyncClient) -> None:
        self.client = client
        self.base = stack.url("feed")

    async def timeline(self, **params: Any) -> dict[str, Any]:
        """GET /v1/timeline."""
        response = await self.client.get(f"{self.base}/v1/timeline", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def ids(self, **params: Any) -> list[str]:
        """Article ids on the first page, newest first."""
        body = await self.timeline(**params)
        return [item["id"] for day in body["days"] for item in day["items"]]


class Stream:
    """One WebSocket subscriber."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next message (fails after ``timeout``)."""
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def take(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The next ``count`` messages."""
        return [await self.next(timeout) for _ in range(count)]


@asynccontextmanager
async def subscribe(url: str, **params: str) -> AsyncIterator[Stream]:
    """Connect to the stream; the first message (hello) is left for the test to read."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    async with websockets.connect(f"{url}?{query}" if query else url, open_timeout=5) as ws:
        yield Stream(ws)


def tcp_established(server_port: int, client_port: int) -> bool:
    """Whether the kernel still holds the server's end of a loopback connection as ESTABLISHED.

    Read from /proc/net/tcp: what a client that never reads cannot tell, but an operator (and
    the server's memory) can.
    """
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if (
                int(local.split(":")[1], 16) == server_port
                and int(remote.split(":")[1], 16) == client_port
                and state == "01"
            ):
                return True
    return False


def reader_that_never_reads(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake on ``/v1/stream``, then never reads.

    A raw socket with a small receive buffer: the realistic stalled reader (a frozen tab, a
    dead network path) whose unsent bytes pile up on the server.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def sse_reader_that_never_reads(port: int) -> socket.socket:
    """An SSE client (``GET /v1/events`` on the push port) that reads the head, then nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    request = f"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    sock.sendall(f"{request}Accept: text/event-stream\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


class SseStalledReader:
    """Reads a :func:`sse_reader_that_never_reads` socket again: the SSE messages kept for it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def read_until(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> tuple[list[dict[str, Any]], bool]:
        """The ``data`` of each message read until ``done(messages)``, and whether the server
        ended the stream first."""
        deadline = time.monotonic() + timeout
        messages: list[dict[str, Any]] = []
        while True:
            message, sep, rest = self.buffer.partition(b"\n\n")
            if not sep:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = self.sock.recv(65536)
                if not chunk:
                    return messages, True
                self.buffer += chunk
                continue
            self.buffer = rest
            for line in message.split(b"\n"):
                if line.startswith(b"data: "):
                    messages.append(json.loads(line[6:]))
            if messages and done(messages):
                return messages, False


class StalledReader:
    """Reads a :func:`reader_that_never_reads` socket again, to see what had piled up for it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def read_until(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> tuple[list[dict[str, Any]], int | None]:
        """JSON messages read until ``done(messages)``, and the close code if the server closed
        the connection first (None otherwise). Pings are skipped, never answered."""
        deadline = time.monotonic() + timeout
        messages: list[dict[str, Any]] = []
        while True:
            frame = _next_frame(self.buffer)
            if frame is None:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise AssertionError(f"connection ended without a close frame: {messages}")
                self.buffer += chunk
                continue
            opcode, payload, self.buffer = frame
            if opcode == 0x8:
                return messages, struct.unpack("!H", payload[:2])[0]
            if opcode == 0x1:
                messages.append(json.loads(payload))
                if done(messages):
                    return messages, None


def _next_frame(buffer: bytes) -> tuple[int, bytes, bytes] | None:
    """(opcode, payload, rest) of the first complete unmasked server frame, if there is one."""
    if len(buffer) < 2:
        return None
    length, start = buffer[1] & 0x7F, 2
    if length == 126:
        if len(buffer) < 4:
            return None
        length, start = struct.unpack("!H", buffer[2:4])[0], 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        length, start = struct.unpack("!Q", buffer[2:10])[0], 10
    if len(buffer) < start + length:
        return None
    return buffer[0] & 0x0F, buffer[start : start + length], buffer[start + length :]


def long_id_articles(count: int, tag: str = "long", **fields: Any) -> list[dict[str, Any]]:
    """``count`` articles whose URN-style ids are as long as ids may be (MAX_ID_CHARS), titled
    ``<tag> headline 000``, ``001``, ...: the heaviest views the documented limits allow."""
    out = []
    for n in range(count):
        prefix = f"urn:newsml:news.example:2024-10-24:{tag}:{n:03d}:"
        item_id = prefix.ljust(MAX_ID_CHARS, "x")
        out.append(article(item_id, title=f"{tag} headline {n:03d}", **fields))
    return out


def key_of(article_id: str) -> str:
    """An article's surrogate key as documented (written out here, not imported from
    shared/edgekeys.py, so a change to the rule shows): ``article:`` and the first 12 hex
    digits of the SHA-256 of its id."""
    return "article:" + hashlib.sha256(article_id.encode()).hexdigest()[:12]


async def raw_get(
    http: httpx.AsyncClient,
    url: str,
    accept_encoding: str | None,
    method: str = "GET",
    **headers: str,
) -> tuple[httpx.Response, bytes]:
    """``url`` as sent on the wire: the response and its undecoded body. ``accept_encoding``
    None sends no Accept-Encoding at all."""
    request = http.build_request(method, url, headers=headers)
    if accept_encoding is None:
        del request.headers["accept-encoding"]
    else:
        request.headers["accept-encoding"] = accept_encoding
    response = await http.send(request, stream=True)
    try:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
    return response, body


def varies(response: httpx.Response) -> bool:
    """Whether ``response`` says ``Vary: Accept-Encoding`` (among other names or not)."""
    vary = {part.strip().lower() for part in response.headers.get("vary", "").split(",")}
    return "accept-encoding" in vary


def empty_store(client: redis.Redis) -> None:
    """Delete every livefeed key (``lf:*``): an empty timeline, event log and history."""
    doomed = list(client.scan_iter(match="lf:*", count=1000))
    if doomed:
        client.delete(*doomed)
