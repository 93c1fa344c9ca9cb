"""Silent sockets (connections that never send their request) cannot exhaust a push process.

A flood of thousands of idle connections from a few addresses, against a push process whose
descriptor limit is 1,024: the ones beyond the caps are closed as they are accepted, the rest
at the handshake timeout, and meanwhile a reader from another address connects and gets a
published event, and ``/healthz`` answers.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import resource
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import websockets

from tests.helpers import Ingest, article, eventually
from tests.procs import Stack
from tests.reliability.conftest import StackFactory

FLOOD = 3_000
NOFILE = 1_024  # the push process's descriptor limit in this test (well below the flood)
PER_ADDRESS = 100
HANDSHAKING_PER_ADDRESS = 50
HANDSHAKING = 200
HANDSHAKE_TIMEOUT = 4.0
MAIN = "127.0.0.2"  # most of the flood comes from here ...
OTHERS = [f"127.0.0.{n}" for n in range(3, 13)]  # ... the rest from ten more addresses
READER = "127.0.0.1"


@contextmanager
def descriptor_limit(soft: int) -> Iterator[None]:
    """Lower this process's ``ulimit -n`` while a child (which inherits it) is started."""
    old_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (old_soft, hard))


def silent_socket(address: str, port: int) -> socket.socket:
    """A connection from ``address`` that never sends a byte (its connect completes in the
    kernel, whether or not the server has accepted it yet)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.bind((address, 0))
    code = sock.connect_ex(("127.0.0.1", port))
    assert code in (0, errno.EINPROGRESS), os.strerror(code)
    return sock


def closed_by_server(socks: list[socket.socket]) -> int:
    """How many of these silent connections the server has closed (FIN or reset)."""
    poller = select.poll()
    for sock in socks:
        poller.register(sock, select.POLLIN | select.POLLRDHUP)
    return len(poller.poll(0))  # they never get data: readable means closed


def descriptors(stack: Stack) -> int:
    process = stack.services["push"].process
    assert process is not None
    return len(os.listdir(f"/proc/{process.pid}/fd"))


async def test_thousands_of_silent_sockets_leave_room_for_readers_and_health(
    make_stack: StackFactory,
) -> None:
    stack, _server = make_stack(
        services=("ingest", "worker"),
        LIVEFEED_MAX_CONNECTIONS_PER_IP=str(PER_ADDRESS),
        LIVEFEED_PUSH_MAX_HANDSHAKING_PER_IP=str(HANDSHAKING_PER_ADDRESS),
        LIVEFEED_PUSH_MAX_HANDSHAKING=str(HANDSHAKING),
        LIVEFEED_PUSH_HANDSHAKE_TIMEOUT=str(HANDSHAKE_TIMEOUT),
    )
    with descriptor_limit(NOFILE):
        stack.start_service("push")
    stack.wait_healthy("push")
    port = stack.ports["push"]
    base = f"http://{READER}:{port}"
    idle = descriptors(stack)

    sources = [MAIN] * (FLOOD - 100 * len(OTHERS)) + [a for a in OTHERS for _ in range(100)]
    started = time.monotonic()
    flood = [silent_socket(address, port) for address in sources]
    try:
        # The process holds no more than its handshake cap; every other socket is closed at
        # once (well before the handshake timeout), not when the descriptors run out.
        shed = FLOOD - HANDSHAKING
        await eventually(
            lambda: _async(closed_by_server(flood) >= shed),
            timeout=HANDSHAKE_TIMEOUT - 1,
            what=f"{shed} of {FLOOD} silent sockets closed at once",
        )
        assert time.monotonic() - started < HANDSHAKE_TIMEOUT
        assert descriptors(stack) <= idle + HANDSHAKING + 20

        # Meanwhile another address reads the stream and the health check answers.
        transport = httpx.AsyncHTTPTransport(local_address=READER)
        async with httpx.AsyncClient(transport=transport, timeout=5) as http:
            health = await http.get(f"{base}/healthz")
            assert health.status_code == 200, health.text
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/v1/stream", open_timeout=5, local_addr=(READER, 0)
            ) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
                await Ingest(stack, http).apply(article("during-the-flood"))
                event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert event["type"] == "published"
                assert event["headline"]["id"] == "during-the-flood"
            metrics = (await http.get(f"{base}/metrics")).text
        assert 'livefeed_push_shed_total{reason="address"}' in metrics

        # The handshake timeout closes the rest: nothing of the flood is left.
        await eventually(
            lambda: _async(closed_by_server(flood) == FLOOD),
            timeout=HANDSHAKE_TIMEOUT + 3,
            what="every silent socket closed by the handshake timeout",
        )
        await eventually(
            lambda: _async(descriptors(stack) <= idle + 5),
            timeout=5,
            what="the push process's descriptors back to idle",
        )
    finally:
        for sock in flood:
            sock.close()


async def _async(value: bool) -> bool:
    return value
