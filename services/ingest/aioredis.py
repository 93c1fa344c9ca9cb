"""The asyncio Redis client of the ingest write path, packing commands with hiredis.

redis-py's asyncio connections pack every command in Python (~26 us for an RQ job's HSET),
while its blocking connections hand the same arguments to ``hiredis.pack_command`` (~8 us) when
hiredis is installed, as it is here. This client's connections use that same hiredis packer:
the bytes on the wire are identical, only cheaper to make.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis.asyncio
from redis.asyncio.connection import AbstractConnection
from redis.connection import HiredisRespSerializer
from redis.typing import EncodableT
from redis.utils import HIREDIS_AVAILABLE

from shared.redis_client import async_client
from shared.settings import Settings

_PACKER = HiredisRespSerializer()


class _HiredisPacking(AbstractConnection):
    """Mixed in before a redis-py asyncio connection class."""

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        packed: list[bytes] = _PACKER.pack(*args)  # type: ignore[arg-type]
        return packed

    def pack_commands(self, commands: Iterable[Iterable[EncodableT]]) -> list[bytes]:
        return [chunk for command in commands for chunk in self.pack_command(*command)]


# Requests in flight share this many connections. A request finding none free waits for one
# (up to LIVEFEED_REDIS_TIMEOUT) instead of failing: redis-py's default pool raises at once when
# its 100 are busy, which a burst of posts would see as "Redis unavailable" (503).
MAX_CONNECTIONS = 50


def connect(url: str, settings: Settings) -> redis.asyncio.Redis:
    """The write path's client (``shared.redis_client.async_client`` on a pool of
    ``MAX_CONNECTIONS``), its connections packing commands with hiredis."""
    client = async_client(url, settings, max_connections=MAX_CONNECTIONS)
    if HIREDIS_AVAILABLE:  # a dependency, but redis-py runs without it: so do we
        pool = client.connection_pool
        base = pool.connection_class
        pool.connection_class = type(f"Hiredis{base.__name__}", (_HiredisPacking, base), {})
    return client
