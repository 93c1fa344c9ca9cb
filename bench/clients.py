"""Load generator: many listening WebSocket clients spread over separate processes.

Each process runs one asyncio (uvloop) loop holding its share of the connections, counts the
frames each client receives and records latency = receive time - the publish timestamp carried in
the frame's headline id (``bench-<seq>-<ts_ns>``, see ``bench.publisher``). Frames without such an
id (``hello``, pings, warm-up headlines) are ignored. Publisher and clients share one clock
(``time.time_ns`` on this machine).

Protocols: ``ws`` (plain WebSocket, the floor and livefeed), ``socketio`` (raw engine.io v4
over ``websockets``: ``/socket.io/?EIO=4&transport=websocket``, answer ``2`` with ``3``,
send ``40``), ``raw`` (``RawClient``: WebSocket frames parsed from bytes) and ``sse``
(``SseClient``: ``GET /v1/events`` as Server-Sent Events, through push or a GRIP proxy).

Standalone, against a running server (publish with ``python -m bench.publisher``):

    python -m bench.clients --url ws://127.0.0.1:9001/ --protocol ws --n 1000 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing as mp
import re
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import SynchronizedArray
from multiprocessing.synchronize import Event as MpEvent
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

from bench.common import install_loop, raise_nofile_limit
from bench.harness import spread_ms

ID_RE = re.compile(r"bench-(\d+)-(\d+)")
ID_RE_BYTES = re.compile(rb"bench-(\d+)-(\d+)")
TICK_S = 0.05


@dataclass(frozen=True)
class ClientSpec:
    """How to reach a server: URL, wire protocol, optional Origin header and limits."""

    url: str
    protocol: str = "ws"  # "ws" | "socketio" | "raw" (RawClient: least client CPU) | "sse"
    origin: str | None = None
    connect_concurrency: int = 64
    open_timeout: float = 30.0
    max_runtime_s: float = 900.0
    start_at: float = 0.0  # time.time() to start connecting at (0: at once); for storms
    source: str | None = None  # local address to connect from (each process its own, see pool)
    attempts: int = 3  # tries per connect (raw, sse: each within open_timeout, TCP connect too)
    # raw, sse: a connection the server ends before the run stops is opened again (as a browser's
    # EventSource does; sse resumes with Last-Event-ID), up to ``attempts`` times per client
    reconnect: bool = False


@dataclass
class WorkerResult:
    """What one client process measured (picklable, sent back to the driver)."""

    worker: int
    n: int
    connected: int
    connect_errors: dict[str, int]
    closed_early: int
    duplicates: int
    latencies_ns: bytes  # array('q') of every counted frame's latency
    per_client: list[int]  # counted frames per client
    seq_max_ns: dict[int, int]  # per headline: slowest client's latency
    seq_count: dict[int, int]  # per headline: clients reached
    connect_s: float
    last_ns: int = 0  # time.time_ns() of the last counted frame
    retries: int = 0  # failed connect attempts followed by another attempt
    reconnects: int = 0  # connections the server ended early, opened again (spec.reconnect)


@dataclass
class ClientStats:
    """Per-process counters updated on every frame."""

    n: int
    latencies: array[int] = field(default_factory=lambda: array("q"))
    per_client: array[int] = field(init=False)
    last_seq: array[int] = field(init=False)
    seq_max: dict[int, int] = field(default_factory=dict)
    seq_count: Counter[int] = field(default_factory=Counter)
    connected: int = 0
    failed: int = 0
    closed_early: int = 0
    duplicates: int = 0
    last_ns: int = 0
    retries: int = 0
    reconnects: int = 0
    connect_errors: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.per_client = array("q", bytes(8 * self.n))
        self.last_seq = array("q", [-1] * self.n)

    @property
    def received(self) -> int:
        """Counted frames so far."""
        return len(self.latencies)

    def on_frame(self, client: int, text: str) -> None:
        """Count one frame for *client* if it carries a bench headline id."""
        match = ID_RE.search(text)
        if match is not None:
            self.on_id(client, int(match[1]), int(match[2]))

    def on_id(self, client: int, seq: int, ts_ns: int) -> None:
        """Count headline *seq* (published at *ts_ns*) for *client*, in order, once."""
        now = time.time_ns()
        if seq <= self.last_seq[client]:
            self.duplicates += 1
            return
        self.last_seq[client] = seq
        self.last_ns = now
        latency = now - ts_ns
        self.latencies.append(latency)
        self.per_client[client] += 1
        if latency > self.seq_max.get(seq, -1):
            self.seq_max[seq] = latency
        self.seq_count[seq] += 1


class CountingConnection(ClientConnection):
    """A websockets client connection that hands matching text frames straight to a callback.

    Frames whose text starts with ``fast_prefix`` skip the message queue and the reader task's
    wake-up (the bulk of a client's per-frame cost), so the load generator adds less delay to what
    it measures. Everything else (handshake packets, engine.io pings) goes through ``recv()``.
    """

    on_text: Callable[[str], None] | None = None
    fast_prefix: str = ""

    def process_event(self, event: Event) -> None:
        """Divert complete text frames that match to ``on_text``."""
        if (
            self.on_text is not None
            and isinstance(event, Frame)
            and event.opcode is Opcode.TEXT
            and event.fin
        ):
            text = bytes(event.data).decode()
            if text.startswith(self.fast_prefix):
                self.on_text(text)
                return
        super().process_event(event)


async def _open(spec: ClientSpec) -> CountingConnection:
    """Open one WebSocket (no compression, no keepalive pings, no proxy)."""
    url = spec.url
    if spec.protocol == "socketio":
        url = url.rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
    return await connect(
        url,
        compression=None,
        ping_interval=None,
        proxy=None,
        origin=spec.origin,  # type: ignore[arg-type]
        open_timeout=spec.open_timeout,
        user_agent_header=None,
        create_connection=CountingConnection,
        local_addr=(spec.source, 0) if spec.source else None,
    )  # type: ignore[return-value]


async def _socketio_join(ws: ClientConnection, limit_s: float) -> None:
    """engine.io/socket.io handshake: read the open packet, send ``40``, wait for ``40{...}``."""
    async with asyncio.timeout(limit_s):
        opening = await ws.recv()
        if not str(opening).startswith("0"):
            raise ValueError(f"unexpected engine.io open packet {opening!r:.60}")
        await ws.send("40")
        while True:
            msg = await ws.recv()
            if msg == "2":
                await ws.send("3")
            elif str(msg).startswith("40"):
                return
            elif str(msg).startswith("44"):
                raise ValueError(f"socket.io connect refused: {msg!r:.80}")


async def _connect_with_retry(
    spec: ClientSpec, stats: ClientStats, sem: asyncio.Semaphore
) -> CountingConnection | None:
    """Open (and for socket.io, join) one client; up to 3 attempts. None when all failed."""
    for attempt in range(3):
        async with sem:
            try:
                ws = await _open(spec)
                if spec.protocol == "socketio":
                    await _socketio_join(ws, spec.open_timeout)
                return ws
            except (
                OSError,
                TimeoutError,
                InvalidHandshake,
                InvalidURI,
                ConnectionClosed,
                ValueError,
            ) as exc:
                stats.connect_errors[type(exc).__name__] += 1
        await asyncio.sleep(0.2 * (attempt + 1))
    return None


async def _listen(
    ws: CountingConnection, client: int, spec: ClientSpec, stats: ClientStats
) -> None:
    """Receive until the connection closes, counting bench frames (most arrive via ``on_text``)."""
    socketio = spec.protocol == "socketio"
    ws.fast_prefix = "42" if socketio else ""
    ws.on_text = partial(stats.on_frame, client)
    async for msg in ws:
        if not isinstance(msg, str):
            continue
        if socketio:
            if msg == "2":
                await ws.send("3")
                continue
            if not msg.startswith("42"):
                continue
        stats.on_frame(client, msg)


class _RawStream(asyncio.Protocol):
    """What both raw clients share: one request written on connect, and futures that say when
    the answer's head came (``opened``) and when the connection ended (``closed``)."""

    WHAT = "the answer"  # what a connection lost before ``opened`` was waiting for

    def __init__(self, request: bytes, on_id: Callable[[int, int], None]) -> None:
        self.request = request
        self.on_id = on_id
        self.buf = bytearray()
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the request."""
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        """Wake whoever waits on open or close."""
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before {self.WHAT}: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def _head(self, status: bytes) -> bytes | None:
        """The answer's head (lower-cased) once it is whole and its status line starts with
        ``status``, taken off the buffer and ``opened`` resolved; None while it is incomplete
        or when it is another answer (``opened`` fails, the connection is closed)."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(buf[:end]).lower()
        if not head.startswith(status):
            self.opened.set_exception(ConnectionError(bytes(buf[:40]).decode(errors="replace")))
            assert self.transport is not None
            self.transport.close()
            return None
        del buf[: end + 4]
        self.opened.set_result(None)
        return head


class RawClient(_RawStream):
    """A minimal listening WebSocket client: handshake, then frames parsed straight from bytes.

    It does per frame only what counting needs (a header parse and a regex), about 5x less CPU
    than a full ``websockets`` connection, so a storm of a million frames measures the server
    rather than the load generator. Answers pings; handles text, close, ping frames only.
    """

    WHAT = "the upgrade"

    def __init__(self, host: str, path: str, on_id: Callable[[int, int], None]) -> None:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        super().__init__(request, on_id)
        self.upgraded = False

    def data_received(self, data: bytes) -> None:
        """Parse the 101 answer, then every complete frame in the buffer."""
        buf = self.buf
        buf += data
        if not self.upgraded:
            if self._head(b"http/1.1 101") is None:
                return
            self.upgraded = True
        pos, size = 0, len(buf)
        while size - pos >= 2:
            length, head = buf[pos + 1] & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4]), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10]), 10
            if size - pos < head + length:
                break
            opcode = buf[pos] & 0x0F
            start, pos = pos + head, pos + head + length
            if opcode == 1:
                match = ID_RE_BYTES.search(buf, start, pos)  # no copy of the payload
                if match is not None:
                    self.on_id(int(match[1]), int(match[2]))
            elif opcode == 9 and self.transport is not None:  # ping: masked pong, zero mask
                payload = bytes(buf[start:pos])
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
            elif opcode == 8 and self.transport is not None:
                self.transport.close()
        del buf[:pos]


class SseClient(_RawStream):
    """A minimal Server-Sent Events reader: ``GET`` with ``Accept: text/event-stream``, then
    each complete message (up to a blank line) searched for a bench id, as ``RawClient`` does
    for WebSocket frames. Reads a close-delimited body (livefeed push) and a chunked one
    (Pushpin) alike; comments and the ``hello`` carry no bench id and are skipped."""

    def __init__(
        self,
        host: str,
        path: str,
        on_id: Callable[[int, int], None],
        last_event_id: bytes | None = None,
    ) -> None:
        resume = b"Last-Event-ID: " + last_event_id + b"\r\n" if last_event_id else b""
        request = (
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
                "Cache-Control: no-cache\r\n"
            ).encode()
            + resume
            + b"\r\n"
        )
        super().__init__(request, on_id)
        self.last_event_id = last_event_id  # the last message's ``id`` (to resume from)
        self.body = bytearray()  # the event stream, not yet split into messages
        self.chunked = False
        self.started = False

    def data_received(self, data: bytes) -> None:
        """Parse the answer's head, undo chunking, count every complete message's bench id."""
        buf = self.buf
        buf += data
        if not self.started:
            head = self._head(b"http/1.1 200")
            if head is None:
                return
            self.chunked = b"transfer-encoding: chunked" in head
            self.started = True
        if self.chunked:
            self._unchunk()
        else:
            self.body += buf
            buf.clear()
        body = self.body
        end = body.rfind(b"\n\n")
        if end < 0:
            return
        pos = 0
        while pos <= end:
            stop = body.find(b"\n\n", pos)
            if body.startswith(b"id: ", pos):
                self.last_event_id = bytes(body[pos + 4 : body.find(b"\n", pos)])
            match = ID_RE_BYTES.search(body, pos, stop)  # no copy of the message
            if match is not None:
                self.on_id(int(match[1]), int(match[2]))
            pos = stop + 2
        del body[: end + 2]

    def _unchunk(self) -> None:
        """Move every complete chunk's data from ``buf`` to ``body``."""
        buf, pos = self.buf, 0
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                break
            size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
            if len(buf) < line_end + 2 + size + 2:
                break
            self.body += buf[line_end + 2 : line_end + 2 + size]
            pos = line_end + 2 + size + 2
            if size == 0 and self.transport is not None:  # the last chunk: the stream ended
                self.transport.close()
                break
        del buf[:pos]


async def _raw_open(
    client: int, spec: ClientSpec, stats: ClientStats, last_event_id: bytes | None
) -> RawClient | SseClient:
    """Open one RawClient or SseClient: TCP connect, then the 101 or 200 answer's head."""
    url = urlsplit(spec.url)
    path = url.path + (f"?{url.query}" if url.query else "")
    on_id = partial(stats.on_id, client)
    proto: RawClient | SseClient | None = None

    def make() -> RawClient | SseClient:
        nonlocal proto
        if spec.protocol == "sse":
            proto = SseClient(url.netloc, path, on_id, last_event_id)
        else:
            proto = RawClient(url.netloc, path, on_id)
        return proto

    try:
        await asyncio.get_running_loop().create_connection(
            make,
            url.hostname or "127.0.0.1",
            url.port or 80,
            local_addr=(spec.source, 0) if spec.source else None,
        )
        assert proto is not None
        await proto.opened
    except BaseException:  # a timeout (cancelled) or an error: leave no socket behind
        if proto is not None and proto.transport is not None:
            proto.transport.abort()
        raise
    return proto


async def _raw_client(
    client: int,
    spec: ClientSpec,
    stats: ClientStats,
    sem: asyncio.Semaphore,
    sockets: list[Any],
    stopping: asyncio.Event,
) -> bool:
    """Connect one RawClient or SseClient and wait until it closes: up to ``spec.attempts``
    tries, each within ``spec.open_timeout`` (the TCP connect included: a SYN the server's full
    backlog dropped is retransmitted by the kernel for ~2 minutes). With ``spec.reconnect`` a
    connection the server ends early is opened again (SSE: from its last id), counted in
    ``reconnects``. False if it never opened."""
    last_event_id: bytes | None = None
    opened_once = False
    reconnects = 0
    while True:
        proto: RawClient | SseClient | None = None
        for attempt in range(spec.attempts):
            if attempt:
                stats.retries += 1
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
            async with sem:
                try:
                    proto = await asyncio.wait_for(
                        _raw_open(client, spec, stats, last_event_id), spec.open_timeout
                    )
                    break
                except (OSError, TimeoutError, ConnectionError) as exc:
                    # a refusal is counted by its status line ("HTTP/1.1 503 ..."), the rest
                    # by kind
                    refused = str(exc).startswith("HTTP/")
                    stats.connect_errors[
                        str(exc).split("\r\n")[0] if refused else type(exc).__name__
                    ] += 1
        if proto is None:
            if opened_once:  # lost: it opened, then could not open again (stays closed early)
                stats.failed += 1
            return opened_once
        sockets.append(proto)
        if opened_once:
            stats.closed_early -= 1  # open again
            stats.reconnects += 1
        else:
            stats.connected += 1
            opened_once = True
        await proto.closed
        if stopping.is_set():
            return True
        if not spec.reconnect:
            stats.closed_early += 1
            return True
        stats.closed_early += 1  # until it is open again
        if reconnects >= spec.attempts:  # lost: it keeps being closed
            stats.failed += 1
            return True
        reconnects += 1
        if isinstance(proto, SseClient):
            last_event_id = proto.last_event_id


async def _client(
    client: int,
    spec: ClientSpec,
    stats: ClientStats,
    sem: asyncio.Semaphore,
    sockets: list[Any],
    stopping: asyncio.Event,
) -> None:
    """One client's whole life: connect, listen, note an early close."""
    if spec.protocol in ("raw", "sse"):
        # it counts its own early close (it may open again)
        if not await _raw_client(client, spec, stats, sem, sockets, stopping):
            stats.failed += 1
        return
    ws = await _connect_with_retry(spec, stats, sem)
    if ws is None:
        stats.failed += 1
        return
    sockets.append(ws)
    stats.connected += 1
    with contextlib.suppress(ConnectionClosed):
        await _listen(ws, client, spec, stats)
    if not stopping.is_set():
        stats.closed_early += 1


def _freeze_heap() -> None:
    """Collect once and move every live object out of the GC's reach, so that the load generator's
    own gen-2 collections (thousands of connection objects) do not show up as latency spikes."""
    gc.collect()
    gc.freeze()


async def _run_worker(
    worker: int, n: int, spec: ClientSpec, counters: SharedCounters
) -> WorkerResult:
    """Hold *n* clients until the driver sets stop (or max_runtime passes), then report."""
    stats = ClientStats(n)
    sem = asyncio.Semaphore(spec.connect_concurrency)
    sockets: list[Any] = []
    stopping = asyncio.Event()
    if spec.start_at:
        await asyncio.sleep(max(0.0, spec.start_at - time.time()))
    started = time.perf_counter()
    connect_s = 0.0
    tasks = [asyncio.create_task(_client(i, spec, stats, sem, sockets, stopping)) for i in range(n)]
    deadline = started + spec.max_runtime_s
    while not counters.stop.is_set() and time.perf_counter() < deadline:
        counters.publish(worker, stats)
        if not connect_s and stats.connected + stats.failed >= n:
            connect_s = time.perf_counter() - started
            _freeze_heap()
        await asyncio.sleep(TICK_S)
    stopping.set()
    for ws in sockets:
        ws.transport.abort()
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=10)
    counters.publish(worker, stats)
    return WorkerResult(
        worker=worker,
        n=n,
        connected=stats.connected,
        connect_errors=dict(stats.connect_errors),
        closed_early=stats.closed_early,
        duplicates=stats.duplicates,
        latencies_ns=stats.latencies.tobytes(),
        per_client=list(stats.per_client),
        seq_max_ns=stats.seq_max,
        seq_count=dict(stats.seq_count),
        connect_s=connect_s,
        last_ns=stats.last_ns,
        retries=stats.retries,
        reconnects=stats.reconnects,
    )


class SharedCounters:
    """Counters the client processes publish for the driver to poll, plus the stop flag."""

    def __init__(self, ctx: mp.context.BaseContext, procs: int) -> None:
        self.connected: SynchronizedArray[int] = ctx.Array("q", procs)
        self.failed: SynchronizedArray[int] = ctx.Array("q", procs)
        self.received: SynchronizedArray[int] = ctx.Array("q", procs)
        self.retries: SynchronizedArray[int] = ctx.Array("q", procs)
        self.closed_early: SynchronizedArray[int] = ctx.Array("q", procs)
        self.stop: MpEvent = ctx.Event()

    def publish(self, worker: int, stats: ClientStats) -> None:
        """Copy one worker's counts into shared memory."""
        self.connected[worker] = stats.connected - stats.closed_early
        self.failed[worker] = stats.failed
        self.received[worker] = stats.received
        self.retries[worker] = stats.retries + stats.reconnects
        self.closed_early[worker] = stats.closed_early


def worker_main(
    worker: int, n: int, spec: ClientSpec, counters: SharedCounters, pipe: Connection
) -> None:
    """Process entry point: raise the fd limit, run the loop, send the result back."""
    raise_nofile_limit()
    install_loop("uvloop")
    result = asyncio.run(_run_worker(worker, n, spec, counters))
    pipe.send(result)
    pipe.close()


class ClientPool:
    """Driver-side handle on the client processes for one run."""

    def __init__(
        self, spec: ClientSpec, n_total: int, procs: int = 2, first_source: int = 2
    ) -> None:
        self.spec = spec
        self.first_source = first_source  # the first process connects from 127.0.0.<this>
        self.n_total = n_total
        self.ctx = mp.get_context("spawn")
        self.counters = SharedCounters(self.ctx, procs)
        self.shares = [n_total // procs + (1 if i < n_total % procs else 0) for i in range(procs)]
        self.processes: list[mp.process.BaseProcess] = []
        self.pipes: list[Connection] = []

    def start(self) -> None:
        """Start every client process, each connecting from its own loopback address
        (127.0.0.2, 127.0.0.3, …): one address has only ~28,000 ephemeral ports."""
        for worker, share in enumerate(self.shares):
            parent, child = self.ctx.Pipe(duplex=False)
            spec = replace(self.spec, source=f"127.0.0.{self.first_source + worker}")
            proc = self.ctx.Process(
                target=worker_main,
                args=(worker, share, spec, self.counters, child),
                daemon=True,
            )
            proc.start()
            child.close()
            self.processes.append(proc)
            self.pipes.append(parent)

    @property
    def pids(self) -> list[int]:
        """Process ids of the client processes."""
        return [p.pid for p in self.processes if p.pid is not None]

    def connected(self) -> int:
        """Clients currently connected (joined, not closed)."""
        return sum(self.counters.connected[:])

    def failed(self) -> int:
        """Clients that could not connect."""
        return sum(self.counters.failed[:])

    def received(self) -> int:
        """Counted frames across all clients."""
        return sum(self.counters.received[:])

    def retried(self) -> int:
        """Connect attempts retried and connections opened again, so far."""
        return sum(self.counters.retries[:])

    def closed_early(self) -> int:
        """Clients whose connection the server ended (and not open again)."""
        return sum(self.counters.closed_early[:])

    def all_alive(self) -> bool:
        """True while every client process runs."""
        return all(p.is_alive() for p in self.processes)

    def wait_connected(self, timeout_s: float, progress_every_s: float = 2.0) -> bool:
        """Wait until every client connected or failed; print progress. False on timeout."""
        deadline = time.monotonic() + timeout_s
        next_report = time.monotonic() + progress_every_s
        while time.monotonic() < deadline:
            done = self.connected() + self.failed()
            if done >= self.n_total:
                return True
            if not self.all_alive():
                raise RuntimeError("a client process died while connecting")
            if time.monotonic() >= next_report:
                print(
                    f"    connecting: {self.connected()}/{self.n_total} (failed {self.failed()}, "
                    f"retried {self.retried()}, closed early {self.closed_early()})",
                    flush=True,
                )
                next_report += progress_every_s
            time.sleep(0.05)
        return False

    def wait_received(self, expected: int, timeout_s: float) -> bool:
        """Wait until *expected* frames were counted; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.received() >= expected:
                return True
            time.sleep(0.02)
        return False

    def stop_and_collect(self, timeout_s: float = 30.0) -> list[WorkerResult]:
        """Tell the workers to stop and gather their results; kill any that hang."""
        self.counters.stop.set()
        results: list[WorkerResult] = []
        deadline = time.monotonic() + timeout_s
        for pipe in self.pipes:
            if pipe.poll(max(0.0, deadline - time.monotonic())):
                results.append(pipe.recv())
        for proc in self.processes:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        return results

    def terminate(self) -> None:
        """Kill any client process still running (cleanup after an error)."""
        self.counters.stop.set()
        for proc in self.processes:
            if proc.is_alive():
                proc.join(2)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


def latencies_ns(results: list[WorkerResult]) -> list[int]:
    """Every counted frame's latency (ns) over the client processes' results, ascending."""
    return sorted(x for r in results for x in array("q", r.latencies_ns))


def main(argv: list[str] | None = None) -> None:
    """Standalone: connect N clients, listen for --duration seconds, print a summary."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--url", required=True)
    p.add_argument("--protocol", choices=("ws", "socketio"), default="ws")
    p.add_argument("--origin", default=None)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument(
        "--duration", type=float, default=20.0, help="seconds to listen after connecting (max 600)"
    )
    args = p.parse_args(argv)
    pool = ClientPool(ClientSpec(args.url, args.protocol, args.origin), args.n, args.procs)
    pool.start()
    ok = pool.wait_connected(timeout_s=60 + args.n / 100)
    print(
        f"connected {pool.connected()}/{args.n} (all: {ok}); listening {args.duration:.0f} s",
        flush=True,
    )
    time.sleep(min(args.duration, 600.0))
    lat = latencies_ns(pool.stop_and_collect())
    print(f"frames {len(lat)}", " ".join(f"{k} {v:.1f}" for k, v in spread_ms(lat, 1e-9).items()))


if __name__ == "__main__":
    main()
