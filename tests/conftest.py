"""Fixtures: one real embedded Redis and one real stack of services for the session."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from shared.redis_server import EmbeddedRedis
from tests.helpers import Feed, Ingest, empty_store, http_client
from tests.procs import Stack

# Small enough that a test can push events off the end of the log.
STREAM_MAXLEN = 300


def short_tmpdir() -> Path:
    """A short path: unix socket paths are limited to ~100 bytes."""
    return Path(tempfile.mkdtemp(prefix="lf-"))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """The embedded Redis every session-wide test shares."""
    with EmbeddedRedis(short_tmpdir()) as server:
        yield server


@pytest.fixture(scope="session")
def redis_client(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    """A plain client on the shared Redis."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def stack(redis_server: EmbeddedRedis) -> Iterator[Stack]:
    """ingest, worker, feed and push as real processes on the shared Redis."""
    workdir = short_tmpdir()
    running = Stack(
        redis_server.url,
        workdir,
        extra_env={
            "LIVEFEED_STREAM_MAXLEN": str(STREAM_MAXLEN),
            # The whole session posts with one token; the limit itself is tested on a stack
            # of its own (tests/reliability/test_floods.py). High, not off: the check still runs.
            "LIVEFEED_INGEST_RATE_LIMIT": "1000000",
            # Tests (schemathesis above all) send wrong tokens from 127.0.0.1 on purpose; the
            # throttle itself is tested on stacks of its own (tests/ingest/
            # test_tokens_file_and_guessing.py). High, not off: failures are still counted.
            "LIVEFEED_AUTH_FAILURES_PER_MINUTE": "1000000",
        },
    ).start()
    yield running
    running.stop()


@pytest.fixture
def fresh(stack: Stack, redis_client: redis.Redis) -> Stack:
    """The shared stack with an empty timeline and event log."""
    empty_store(redis_client)
    return stack


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client."""
    async with http_client() as client:
        yield client


@pytest.fixture
def ingest(fresh: Stack, http: httpx.AsyncClient) -> Ingest:
    """Ingest of the fresh stack."""
    return Ingest(fresh, http)


@pytest.fixture
def feed(fresh: Stack, http: httpx.AsyncClient) -> Feed:
    """Feed API of the fresh stack."""
    return Feed(fresh, http)
