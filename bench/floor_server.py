"""The floor: bare ``websockets`` server broadcasting each Redis Stream entry as one prepared frame.

One XREAD BLOCK reader task follows the stream; each entry becomes one text frame string that
``websockets.broadcast`` writes to every open connection in one synchronous pass.
Compression is off. Clients only listen.

    python -m bench.floor_server --port 9001 --redis-url unix:///tmp/x/redis.sock \\
        --stream bench:events
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

import websockets
from redis.asyncio import Redis
from websockets.asyncio.server import Server, ServerConnection, serve

from bench.common import install_loop, make_frame, read_stream, server_args

log = logging.getLogger("bench.floor")


async def _handler(connection: ServerConnection) -> None:
    """Keep the connection open until the client leaves; clients only listen."""
    await connection.wait_closed()


def _broadcaster(server: Server) -> Callable[[str, dict[str, str]], None]:
    """Return the stream-entry callback that broadcasts one prepared frame to all connections."""

    def on_event(event_id: str, fields: dict[str, str]) -> None:
        websockets.broadcast(server.connections, make_frame(event_id, fields))

    return on_event


async def run(host: str, port: int, redis_url: str, stream: str) -> None:
    """Serve until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    redis = Redis.from_url(redis_url, decode_responses=True)
    async with serve(_handler, host, port, compression=None, backlog=4096) as server:
        reader = asyncio.create_task(read_stream(redis, stream, _broadcaster(server), stop))
        log.info("floor server on ws://%s:%d/ following %s", host, port, stream)
        await stop.wait()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    await redis.aclose()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = server_args(__doc__, argv)
    install_loop(args.loop)
    asyncio.run(run(args.host, args.port, args.redis_url, args.stream))


if __name__ == "__main__":
    main()
