"""Push metrics an operator alerts on: slow readers cut off, and Redis lost and regained."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from shared import keys
from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.helpers import reader_that_never_reads
from tests.ops.metrics_client import value
from tests.procs import Stack, free_port, wait_for


@pytest.fixture(scope="module")
def lone_push() -> Iterator[tuple[Stack, EmbeddedRedis]]:
    """One push process (4 KiB client buffers) on its own Redis, which the tests may restart."""
    server = EmbeddedRedis(short_tmpdir())
    server.start()
    stack = Stack(server.url, short_tmpdir(), extra_env={"LIVEFEED_CLIENT_BUFFER_BYTES": "4096"})
    stack.ports.update({name: free_port() for name in ("ingest", "feed", "push", "worker")})
    try:
        stack.start_service("push")
        stack.wait_healthy("push")
        yield stack, server
    finally:
        stack.stop()
        server.stop()


def _metrics(stack: Stack) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{stack.url('push')}/metrics", timeout=5).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_reader_that_stops_reading_is_cut_off_and_counted(
    lone_push: tuple[Stack, EmbeddedRedis],
) -> None:
    stack, server = lone_push
    before = value(_metrics(stack), "livefeed_push_slow_clients_closed_total", transport="ws")
    stuck = reader_that_never_reads(stack.ports["push"])
    client = redis.Redis.from_url(server.url)
    try:
        wait_for(lambda: value(_metrics(stack), "livefeed_push_clients", transport="ws") >= 1)
        headline = json.dumps({"id": "big", "title": "x" * 60_000})

        def cut_off_after_another_event() -> bool:
            client.xadd(
                keys.EVENTS,
                {"type": "published", "id": "big", "sections": "", "labels": "",
                 "headline": headline},
            )  # fmt: skip
            now = _metrics(stack)
            return value(now, "livefeed_push_slow_clients_closed_total", transport="ws") > before

        wait_for(cut_off_after_another_event, 30, interval=0.01)
        wait_for(lambda: value(_metrics(stack), "livefeed_push_clients", transport="ws") == 0)
    finally:
        stuck.close()
        client.close()


def test_redis_lost_and_regained_shows_in_push_metrics(
    lone_push: tuple[Stack, EmbeddedRedis],
) -> None:
    stack, server = lone_push
    before = _metrics(stack)
    assert value(before, "livefeed_redis_up") == 1
    server.stop()
    try:
        wait_for(lambda: value(_metrics(stack), "livefeed_redis_up") == 0, 20)
        assert httpx.get(f"{stack.url('push')}/readyz", timeout=5).status_code == 503
    finally:
        server.start()
    wait_for(lambda: value(_metrics(stack), "livefeed_redis_up") == 1, 20)
    after = _metrics(stack)
    assert value(after, "livefeed_push_redis_reconnects_total") == (
        value(before, "livefeed_push_redis_reconnects_total") + 1
    )
