"""Every Redis connection livefeed opens, and the RQ queue: built here and nowhere else.

One place decides where Redis is, how long a command may take and which pool a client uses,
so that a change of topology (Redis Sentinel, next) is made once:

- ``sync_client`` / ``async_client``: request/response clients. A command must answer within
  ``LIVEFEED_REDIS_TIMEOUT``; a reader that blocks in ``XREAD`` for ``block_ms`` gets that much
  longer. ``async_client(max_connections=n)`` makes callers wait (up to the same timeout) for
  one of ``n`` connections instead of failing when all are busy.
- ``worker_client``: the RQ worker's connection, which RQ itself blocks on.
- ``apply_queue``: the RQ queue ingest fills and the feed worker empties, with its serializer.
- ``running_url``: the configured Redis, or the embedded one another livefeed process started.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
from rq import Queue
from rq.serializers import JSONSerializer

from shared.redis_server import is_running, socket_url
from shared.settings import Settings

# Jobs carry JSON (never pickles): ingest writes them without importing the job's code.
JOB_SERIALIZER = JSONSerializer
# The RQ worker's idle connection is checked (PING) when it was unused this long, in seconds.
WORKER_HEALTH_CHECK_S = 30


def _timeouts(settings: Settings, block_ms: int | None) -> dict[str, Any]:
    read_s = settings.redis_timeout + (block_ms / 1000 if block_ms is not None else 0)
    return {"socket_timeout": read_s, "socket_connect_timeout": settings.redis_timeout}


def sync_client(url: str, settings: Settings, *, block_ms: int | None = None) -> redis.Redis:
    """A blocking client; ``block_ms``: the longest blocking command it sends (XREAD BLOCK)."""
    return redis.Redis.from_url(url, **_timeouts(settings, block_ms))


def async_client(
    url: str,
    settings: Settings,
    *,
    block_ms: int | None = None,
    max_connections: int | None = None,
) -> redis.asyncio.Redis:
    """An asyncio client; ``block_ms`` as for ``sync_client``.

    With ``max_connections``, the client's pool holds at most that many connections and a
    command finding none free waits for one, up to ``LIVEFEED_REDIS_TIMEOUT`` (then raises
    ConnectionError); without, redis-py's default pool, which fails at once when all are busy.
    """
    options = _timeouts(settings, block_ms)
    if max_connections is None:
        return redis.asyncio.Redis.from_url(url, **options)
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=settings.redis_timeout, **options
    )
    return redis.asyncio.Redis.from_pool(pool)


def worker_client(url: str, settings: Settings) -> redis.Redis:
    """The RQ worker's client: RQ blocks on it (BLMOVE, pub/sub) for stretches of its own
    choosing, so no read timeout is set here; an idle connection is health-checked instead."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=settings.redis_timeout,
        health_check_interval=WORKER_HEALTH_CHECK_S,
    )


def apply_queue(connection: redis.Redis, settings: Settings) -> Queue:
    """The RQ queue of apply jobs (``LIVEFEED_QUEUE_NAME``), JSON-serialized."""
    return Queue(settings.queue_name, connection=connection, serializer=JOB_SERIALIZER)


def running_url(settings: Settings) -> str | None:
    """``LIVEFEED_REDIS_URL``, else the embedded Redis already running in ``LIVEFEED_DATA_DIR``,
    else None (the caller starts one, or gives up)."""
    if settings.redis_url:
        return settings.redis_url
    if is_running(settings.data_dir):
        return socket_url(settings.data_dir)
    return None
