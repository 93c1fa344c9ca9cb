"""``livefeed worker``: an RQ worker applying queued items, plus the embargo clock."""

from __future__ import annotations

import logging
import threading

import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from services.feed.jobs import release_embargoes
from shared.settings import Settings

log = logging.getLogger(__name__)

EMBARGO_TICK_S = 0.5
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)


def worker_connection(settings: Settings, url: str) -> redis.Redis:
    """A Redis client for RQ: no read timeout, since RQ blocks on BLMOVE for long stretches."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=settings.redis_timeout,
        health_check_interval=30,
    )


def _embargo_clock(client: redis.Redis, settings: Settings, stop: threading.Event) -> None:
    """Release due embargoes twice a second; any worker may do it, the script is atomic."""
    failures = 0
    while not stop.wait(EMBARGO_TICK_S):
        try:
            released = release_embargoes(client, settings)
            failures = 0
        except redis.RedisError as exc:
            failures += 1
            if failures in {1, 10} or failures % 100 == 0:
                log.warning("embargo clock cannot reach Redis: %s", exc)
            continue
        for outcome in released:
            log.info("embargo lifted", extra={"article": outcome["id"]})


def run_worker(settings: Settings, url: str) -> None:
    """Work the queue until SIGTERM/SIGINT (RQ finishes the job in hand first)."""
    client = worker_connection(settings, url)
    stop = threading.Event()
    clock = threading.Thread(
        target=_embargo_clock, args=(client, settings, stop), name="embargo-clock", daemon=True
    )
    clock.start()
    attempt = 0
    try:
        while True:
            queue = Queue(settings.queue_name, connection=client, serializer=JSONSerializer)
            # SimpleWorker runs jobs in this process: no fork per job (4x the throughput).
            worker = SimpleWorker([queue], connection=client, serializer=JSONSerializer)
            try:
                worker.work(logging_level=settings.log_level, with_scheduler=True)
            except redis.RedisError as exc:
                log.warning("worker lost Redis: %s", exc)
            if worker._stop_requested:
                log.info("worker stopped")
                return
            delay = RESTART_BACKOFF_S[min(attempt, len(RESTART_BACKOFF_S) - 1)]
            attempt += 1
            log.warning("worker loop ended unexpectedly; starting again in %.1fs", delay)
            if stop.wait(delay):
                return
    finally:
        stop.set()
        clock.join(timeout=2)
