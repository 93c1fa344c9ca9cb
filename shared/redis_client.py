"""Every Redis connection livefeed opens, and the RQ queue: built here and nowhere else.

One place decides where Redis is, how long a command may take and which pool a client uses:

- where: one Redis (``LIVEFEED_REDIS_URL``, or the embedded one), or the current primary of a
  Sentinel-watched group (``LIVEFEED_REDIS_SENTINELS``, ``LIVEFEED_REDIS_SENTINEL_SERVICE``).
  ``running_url`` names the latter ``redis+sentinel://host:port,host:port/service``; every
  builder below takes either kind of URL. A Sentinel client asks the sentinels for the primary
  whenever it opens a connection; a connection to a dead primary fails (ConnectionError, as in
  any Redis outage, which every caller already retries) and one to a demoted primary is dropped
  at its first write (READONLY), so the next command reaches the new primary. No caller knows
  which kind it has.

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
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.retry
import redis.sentinel
from redis.backoff import NoBackoff
from redis.connection import parse_url
from rq import Queue
from rq.serializers import JSONSerializer

from shared.redis_server import is_running, socket_url
from shared.settings import Settings, host_port

# Jobs carry JSON (never pickles): ingest writes them without importing the job's code.
JOB_SERIALIZER = JSONSerializer
# The RQ worker's idle connection is checked (PING) when it was unused this long, in seconds.
WORKER_HEALTH_CHECK_S = 30


SENTINEL_SCHEME = "redis+sentinel"


def _timeouts(settings: Settings, block_ms: int | None) -> dict[str, Any]:
    read_s = settings.redis_timeout + (block_ms / 1000 if block_ms is not None else 0)
    return {"socket_timeout": read_s, "socket_connect_timeout": settings.redis_timeout}


def sentinel_url(settings: Settings) -> str:
    """``redis+sentinel://host:port,…/service``: the Sentinel group of the settings, as a URL."""
    hosts = ",".join(settings.redis_sentinels)
    return f"{SENTINEL_SCHEME}://{hosts}/{settings.redis_sentinel_service}"


def is_sentinel(url: str) -> bool:
    """Whether ``url`` names a Sentinel group rather than one Redis."""
    return url.startswith(f"{SENTINEL_SCHEME}://")


def _parse_sentinel(url: str) -> tuple[list[tuple[str, int]], str]:
    parts = urlsplit(url)
    return [host_port(item) for item in parts.netloc.split(",")], parts.path.strip("/")


def _sentinel_options(settings: Settings, *, asyncio: bool) -> dict[str, Any]:
    """How to talk to the sentinels themselves: their password, the same timeouts, and no
    retries (redis-py's default retries a refused connection for seconds): a sentinel that
    does not answer at once is skipped for the next one, which is the retry."""
    no_retry = (
        redis.asyncio.retry.Retry(NoBackoff(), 0) if asyncio else redis.retry.Retry(NoBackoff(), 0)
    )
    return {
        "socket_timeout": settings.redis_timeout,
        "socket_connect_timeout": settings.redis_timeout,
        "password": settings.redis_sentinel_password,
        "retry": no_retry,
    }


def _primary_auth(settings: Settings) -> dict[str, Any]:
    """With sentinels, ``LIVEFEED_REDIS_URL`` (if set) gives the primary's credentials and db;
    its host is ignored (the sentinels name the primary)."""
    if not settings.redis_url or is_sentinel(settings.redis_url):
        return {}
    parsed = parse_url(settings.redis_url)  # type: ignore[no-untyped-call]
    return {name: parsed[name] for name in ("username", "password", "db") if name in parsed}


def _sync_sentinel(url: str, settings: Settings) -> tuple[redis.sentinel.Sentinel, str]:
    addresses, service = _parse_sentinel(url)
    return (
        redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            addresses, sentinel_kwargs=_sentinel_options(settings, asyncio=False)
        ),
        service,
    )


def _async_sentinel(url: str, settings: Settings) -> tuple[redis.asyncio.sentinel.Sentinel, str]:
    addresses, service = _parse_sentinel(url)
    return (
        redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            addresses, sentinel_kwargs=_sentinel_options(settings, asyncio=True)
        ),
        service,
    )


class _BlockingSentinelPool(
    redis.asyncio.sentinel.SentinelConnectionPool, redis.asyncio.BlockingConnectionPool
):
    """The primary's connections, at most ``max_connections``, a command waiting for a free
    one (``BlockingConnectionPool``) instead of failing."""


def sync_client(url: str, settings: Settings, *, block_ms: int | None = None) -> redis.Redis:
    """A blocking client; ``block_ms``: the longest blocking command it sends (XREAD BLOCK)."""
    if is_sentinel(url):
        sentinel, service = _sync_sentinel(url, settings)
        client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            service, **_timeouts(settings, block_ms), **_primary_auth(settings)
        )
        return client
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
    if is_sentinel(url):
        sentinel, service = _async_sentinel(url, settings)
        options.update(_primary_auth(settings))
        if max_connections is None:
            client: redis.asyncio.Redis = sentinel.master_for(service, **options)
        else:
            client = sentinel.master_for(
                service,
                connection_pool_class=_BlockingSentinelPool,
                max_connections=max_connections,
                timeout=settings.redis_timeout,
                **options,
            )
        return client
    if max_connections is None:
        return redis.asyncio.Redis.from_url(url, **options)
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=settings.redis_timeout, **options
    )
    return redis.asyncio.Redis.from_pool(pool)


def worker_client(url: str, settings: Settings) -> redis.Redis:
    """The RQ worker's client: RQ blocks on it (BLMOVE, pub/sub) for stretches of its own
    choosing, so no read timeout is set here; an idle connection is health-checked instead."""
    if is_sentinel(url):
        sentinel, service = _sync_sentinel(url, settings)
        client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            service,
            socket_connect_timeout=settings.redis_timeout,
            health_check_interval=WORKER_HEALTH_CHECK_S,
            **_primary_auth(settings),
        )
        return client
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=settings.redis_timeout,
        health_check_interval=WORKER_HEALTH_CHECK_S,
    )


Command = tuple[tuple[Any, ...], dict[str, Any]]  # (args, options) of execute_command


class NotReplicatedError(redis.RedisError):
    """Fewer replicas than ``LIVEFEED_REDIS_MIN_REPLICAS`` acknowledged the writes in time."""

    def __init__(self, acknowledged: int, required: int, what: str) -> None:
        super().__init__(f"{acknowledged} of {required} replicas acknowledged {what}")
        self.acknowledged = acknowledged
        self.required = required


def replicated(commands: list[Command], replicas: int, wait_ms: int) -> list[Command]:
    """``commands`` as one MULTI/EXEC followed by ``WAIT replicas wait_ms``, for a
    non-transactional pipeline: all on one connection, so the WAIT covers exactly these writes
    (WAIT counts the replicas holding every earlier write *of its own connection*)."""
    return [(("MULTI",), {}), *commands, (("EXEC",), {}), (("WAIT", replicas, wait_ms), {})]


def check_replicated(replies: list[Any], required: int, what: str) -> None:
    """Check the replies of ``replicated`` commands: the transaction ran (else ResponseError)
    and at least ``required`` replicas acknowledged it (else ``NotReplicatedError``)."""
    executed, acks = replies[-2], replies[-1]
    if executed is None:
        raise redis.ResponseError(f"the transaction of {what} was aborted")
    for reply in executed:
        if isinstance(reply, Exception):
            raise reply
    if int(acks) < required:
        raise NotReplicatedError(int(acks), required, what)


def apply_queue(connection: redis.Redis, settings: Settings) -> Queue:
    """The RQ queue of apply jobs (``LIVEFEED_QUEUE_NAME``), JSON-serialized."""
    return Queue(settings.queue_name, connection=connection, serializer=JOB_SERIALIZER)


def running_url(settings: Settings) -> str | None:
    """The Sentinel group (``LIVEFEED_REDIS_SENTINELS``), else ``LIVEFEED_REDIS_URL``, else the
    embedded Redis already running in ``LIVEFEED_DATA_DIR``, else None (the caller starts one,
    or gives up)."""
    if settings.redis_sentinels:
        return sentinel_url(settings)
    if settings.redis_url:
        return settings.redis_url
    if is_running(settings.data_dir):
        return socket_url(settings.data_dir)
    return None
