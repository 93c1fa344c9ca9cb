"""The notifier process: the sending loop, and ``/metrics``, ``/healthz``, ``/readyz`` on
``LIVEFEED_NOTIFIER_PORT`` (a small Starlette app whose lifespan runs the loop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.notifier.notifier import Notifier
from services.notifier.sender import Sender
from shared.eventlog import stop_reader
from shared.redis_client import async_client
from shared.settings import Settings
from shared.starlette_glue import EXCEPTION_HANDLERS, metrics_endpoint
from shared.stream import BLOCK_MS


def create_app(settings: Settings, redis_url: str) -> Starlette:
    """The notifier's app; its lifespan runs the stream consumer and the senders."""
    state: dict[str, Notifier] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        reader = async_client(redis_url, settings, block_ms=BLOCK_MS)
        client = async_client(redis_url, settings, max_connections=64)
        sender = Sender(settings)
        notifier = Notifier(client, settings, sender, reader=reader)
        state["notifier"] = notifier
        task = asyncio.create_task(notifier.run())
        try:
            yield
        finally:
            await stop_reader(task)
            await sender.close()
            await reader.aclose()
            await client.aclose()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        notifier = state["notifier"]
        try:
            await notifier.client.ping()
        except RedisError:
            return JSONResponse({"status": "unavailable", "redis": "unreachable"}, 503)
        if not notifier.consumer.ready.is_set():
            return JSONResponse({"status": "starting"}, 503)
        return JSONResponse({"status": "ready", "redis": "ok"})

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )


def run_notifier(settings: Settings, redis_url: str) -> None:
    """``livefeed notifier`` in the foreground until SIGTERM/SIGINT."""
    config = uvicorn.Config(
        create_app(settings, redis_url),
        host=settings.host,
        port=settings.notifier_port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()
