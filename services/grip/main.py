"""The ``livefeed grip-publisher`` process: one stream consumer, one queue per publish endpoint,
``/metrics``, ``/healthz`` and ``/readyz`` on LIVEFEED_GRIP_PUBLISHER_PORT (as the purger's)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from redis.exceptions import RedisError

from services.grip.publisher import Publisher
from shared.eventlog import stop_reader
from shared.grip import PublishTarget
from shared.metrics_port import serve_metrics
from shared.redis_client import async_client
from shared.settings import Settings
from shared.stream import BLOCK_MS, StreamConsumer, consumer_readyz

log = logging.getLogger(__name__)

DRAIN_S = 5.0  # a graceful stop waits this long for queued items to be acknowledged


async def run_grip_publisher(settings: Settings, redis_url: str) -> None:
    """Publish every event to the GRIP proxies until SIGTERM/SIGINT; exit 1 when one of its
    tasks ends (an error it does not survive), after the same drain and final save."""
    client = async_client(redis_url, settings, block_ms=BLOCK_MS)
    targets = [PublishTarget.parse(url) for url in settings.grip_publish]
    publisher = Publisher(client, targets)
    consumer = StreamConsumer(
        client, "grip-publisher", publisher.accept, start=publisher.start, on_gap=publisher.gap
    )

    def healthz() -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ok", "targets": [q.target.url for q in publisher.queues]}

    readyz = consumer_readyz(consumer)

    server = serve_metrics(
        settings.host, settings.grip_publisher_port, {"/healthz": healthz, "/readyz": readyz}
    )
    log.info("grip-publisher listening", extra={"port": server.server_port})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reader = asyncio.create_task(consumer.run(), name="stream-consumer")
    tasks = [
        asyncio.create_task(publisher.run(), name="grip-items"),
        asyncio.create_task(publisher.save(), name="grip-position"),
        asyncio.create_task(publisher.channels.run(), name="grip-channels"),
        *(asyncio.create_task(q.run(), name=f"publish {q.target.url}") for q in publisher.queues),
    ]
    stopping = asyncio.create_task(stop.wait(), name="stop")
    ended: asyncio.Task[Any] | None = None
    try:
        # Every task runs until the process stops; one that ends (an error it does not
        # survive) would leave a process that looks ready and publishes nothing: exit.
        done, _ = await asyncio.wait(
            [reader, *tasks, stopping], return_when=asyncio.FIRST_COMPLETED
        )
        ended = next((task for task in done if task is not stopping), None)
        if ended is not None:
            error = None if ended.cancelled() else ended.exception()
            log.error(
                "grip-publisher: %s ended, exiting: %r",
                ended.get_name(),
                error,
                exc_info=error,
            )
    finally:
        stopping.cancel()
        if not reader.done():
            await stop_reader(reader)
        await publisher.flush()  # what the consumer delivered gets its items
        with contextlib.suppress(TimeoutError):  # what is left is recovered through prev-id
            await asyncio.wait_for(
                asyncio.gather(*(q.empty.wait() for q in publisher.queues)), DRAIN_S
            )
        for task in tasks:
            if not task.done():
                await stop_reader(task)
        try:  # the position and channel ids as of the last items given (save was cut off)
            await publisher.write()
        except (RedisError, OSError) as exc:
            log.warning("grip position not saved at stop: %s", exc)
        server.shutdown()
        await publisher.aclose()
        await client.aclose()
    if ended is not None:
        raise SystemExit(1)
