"""The ``livefeed notifier`` process: the sending loop, and ``/metrics``, ``/healthz``,
``/readyz`` on ``LIVEFEED_NOTIFIER_PORT`` (``shared/metrics_port.py``, as the purger's)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from services.notifier.notifier import Notifier
from services.notifier.sender import Sender
from shared.eventlog import stop_reader
from shared.metrics_port import serve_metrics
from shared.redis_client import async_client
from shared.settings import Settings
from shared.stream import BLOCK_MS, consumer_readyz

log = logging.getLogger(__name__)


async def run_notifier(settings: Settings, redis_url: str) -> None:
    """Send breaking-news alerts on every change until SIGTERM/SIGINT."""
    reader = async_client(redis_url, settings, block_ms=BLOCK_MS)
    client = async_client(redis_url, settings, max_connections=64)
    sender = Sender(settings)
    notifier = Notifier(client, settings, sender, reader=reader)

    def healthz() -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ok"}

    following = consumer_readyz(notifier.consumer)

    def readyz() -> tuple[int, dict[str, Any]]:
        if not notifier.consumer.ready.is_set():
            return 503, {"status": "starting"}
        return following()

    server = serve_metrics(
        settings.host, settings.notifier_port, {"/healthz": healthz, "/readyz": readyz}
    )
    log.info("notifier listening", extra={"port": server.server_port})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(notifier.run(), name="notifier")
    try:
        await stop.wait()
    finally:
        await stop_reader(task)
        server.shutdown()
        await sender.close()
        await reader.aclose()
        await client.aclose()
