"""The usual peer: python-socketio (ASGI, under uvicorn) emitting each Redis Stream entry to all.

One XREAD BLOCK reader task follows the stream; each entry is emitted as the ``headline`` event
to every connected client (``sio.emit`` without a room), with the same envelope as the floor:
``{"type", "event_id", "headline"}``.

    python -m bench.socketio_server --port 9002 --redis-url unix:///tmp/x/redis.sock \\
        --stream bench:events
"""

from __future__ import annotations

import asyncio
import logging

import orjson
import socketio  # type: ignore[import-untyped]
import uvicorn
from redis.asyncio import Redis

from bench.common import read_stream, server_args

log = logging.getLogger("bench.socketio")


class StreamEmitter:
    """Owns the reader task that turns stream entries into ``emit`` calls."""

    def __init__(self, sio: socketio.AsyncServer, redis_url: str, stream: str) -> None:
        self.sio = sio
        self.redis_url = redis_url
        self.stream = stream
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.redis: Redis | None = None

    async def on_event(self, event_id: str, fields: dict[str, str]) -> None:
        """Emit one entry to all clients."""
        payload = {
            "type": fields.get("type", "published"),
            "event_id": event_id,
            "headline": orjson.loads(fields["data"]),
        }
        await self.sio.emit("headline", payload)

    async def startup(self) -> None:
        """ASGI lifespan startup: connect to Redis and start the reader."""
        self.redis = Redis.from_url(self.redis_url, decode_responses=True)
        self.task = asyncio.create_task(
            read_stream(self.redis, self.stream, self.on_event, self.stop)
        )
        log.info("socket.io server following %s", self.stream)

    async def shutdown(self) -> None:
        """ASGI lifespan shutdown: stop the reader and close Redis."""
        self.stop.set()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.redis is not None:
            await self.redis.aclose()


def build_app(redis_url: str, stream: str) -> socketio.ASGIApp:
    """Create the socket.io ASGI app with its stream reader wired to lifespan."""
    sio = socketio.AsyncServer(
        async_mode="asgi", cors_allowed_origins="*", logger=False, engineio_logger=False
    )
    emitter = StreamEmitter(sio, redis_url, stream)
    return socketio.ASGIApp(sio, on_startup=emitter.startup, on_shutdown=emitter.shutdown)


def main(argv: list[str] | None = None) -> None:
    """Entry point: uvicorn (uvloop, httptools, websockets-sansio), one process."""
    args = server_args(__doc__, argv)
    uvicorn.run(
        build_app(args.redis_url, args.stream),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
        ws_per_message_deflate=False,
        backlog=4096,
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
