"""Many idle stream readers in a process of their own, so their memory is not the server's.

``python -m tests.reliability.readers PORT COUNT``: opens COUNT connections to the push port, half
WebSocket (``/v1/stream``) and half SSE (``/v1/events``), from source addresses 127.0.0.2,
127.0.0.3, … (``PER_ADDRESS`` each, under the per-address cap), waits for every ``hello``, prints
one JSON line (``{"connected": n, "failed": m}``) and holds the connections until its stdin
closes. Raw sockets: a reader costs this process a few hundred bytes, not a client library's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys

PER_ADDRESS = 500


class Idle(asyncio.Protocol):
    """One reader: sends its request, notes its hello, then ignores everything."""

    def __init__(self, request: bytes, said_hello: asyncio.Future[None]) -> None:
        self.request = request
        self.said_hello = said_hello
        self.seen = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.said_hello.done():
            return
        self.seen += data
        if b'"type":"hello"' in self.seen:
            self.said_hello.set_result(None)
            self.seen = b""

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.said_hello.done():
            self.said_hello.set_exception(ConnectionError("closed before hello"))


def request(port: int, sse: bool) -> bytes:
    if sse:
        return f"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def main(port: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(100)  # handshakes in flight
    transports: list[asyncio.BaseTransport] = []

    async def one(n: int) -> None:
        said_hello = loop.create_future()
        source = f"127.0.0.{2 + n // PER_ADDRESS}"
        async with gate:
            transport, _ = await loop.create_connection(
                lambda: Idle(request(port, sse=n % 2 == 1), said_hello),
                "127.0.0.1",
                port,
                local_addr=(source, 0),
            )
            transports.append(transport)
            await asyncio.wait_for(said_hello, 30)

    results = await asyncio.gather(*(one(n) for n in range(count)), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    print(json.dumps({"connected": count - len(failed), "failed": len(failed)}), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # hold until the test closes our stdin
    for transport in transports:
        transport.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
