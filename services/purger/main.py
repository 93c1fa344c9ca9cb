"""The ``livefeed purger`` process: one stream consumer, one queue per backend, a metrics port."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from services.purger.purger import Backend, Purger, VarnishBackend, WebhookBackend
from services.purger.websub import WebSubPinger
from shared.eventlog import stop_reader
from shared.events import Entry
from shared.metrics_port import serve_metrics
from shared.redis_client import async_client
from shared.settings import Settings
from shared.stream import BLOCK_MS, StreamConsumer, consumer_readyz

log = logging.getLogger(__name__)


def backends_of(settings: Settings) -> list[Backend]:
    """``LIVEFEED_PURGE_VARNISH`` and ``LIVEFEED_PURGE_WEBHOOK``, in that order."""
    secret = settings.purge_secret or ""
    varnish: list[Backend] = [VarnishBackend(url, secret) for url in settings.purge_varnish]
    return varnish + [WebhookBackend(url) for url in settings.purge_webhook]


async def run_purger(settings: Settings, redis_url: str) -> None:
    """Purge edge caches on every change until SIGTERM/SIGINT."""
    client = async_client(redis_url, settings, block_ms=BLOCK_MS)
    purger = Purger(client, backends_of(settings))
    pinger = WebSubPinger.from_settings(settings)  # None without LIVEFEED_WEBSUB_HUBS

    def deliver(entries: list[Entry]) -> None:
        purger.accept(entries)
        if pinger is not None:
            pinger.accept(entries)

    consumer = StreamConsumer(client, "purger", deliver, start=purger.start, on_gap=purger.gap)

    def healthz() -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ok", "backends": [q.backend.name for q in purger.queues]}

    readyz = consumer_readyz(consumer)

    server = serve_metrics(
        settings.host, settings.purger_port, {"/healthz": healthz, "/readyz": readyz}
    )
    if not purger.queues and pinger is None:
        log.log(
            logging.INFO if settings.dev else logging.WARNING,
            "no purge backend configured (LIVEFEED_PURGE_VARNISH, LIVEFEED_PURGE_WEBHOOK, "
            "LIVEFEED_WEBSUB_HUBS): the purger follows the stream and does nothing",
        )
    log.info("purger listening", extra={"port": server.server_port})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(consumer.run(), name="stream-consumer"),
        asyncio.create_task(purger.save_positions(), name="purger-position"),
        *(asyncio.create_task(q.run(), name=f"purge {q.backend.name}") for q in purger.queues),
    ]
    if pinger is not None:
        tasks.append(asyncio.create_task(pinger.run(), name="websub"))
    try:
        await stop.wait()
    finally:
        for task in tasks:
            await stop_reader(task)
        server.shutdown()
        await purger.aclose()
        await client.aclose()
