"""Fixtures: a Sentinel group of real redis-server processes and a stack pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.conftest import short_tmpdir
from tests.ha.topology import SentinelGroup
from tests.procs import Stack, free_port

HaStackFactory = Callable[..., Stack]


@pytest.fixture
def group() -> Iterator[SentinelGroup]:
    """A primary, two replicas and three sentinels, stopped afterwards."""
    started = SentinelGroup(short_tmpdir())
    try:
        started.start()
        yield started
    finally:
        started.stop()


@pytest.fixture
def ha_stack(group: SentinelGroup) -> Iterator[HaStackFactory]:
    """Start services that find Redis through the sentinels (settings as keyword arguments)."""
    started: list[Stack] = []

    def make(
        *, services: tuple[str, ...] = ("ingest", "worker", "feed", "push"), **env: str
    ) -> Stack:
        stack = Stack(group.url, short_tmpdir(), extra_env={**group.env(), **env})
        started.append(stack)
        for name in ("ingest", "feed", "push", "worker"):
            stack.ports.setdefault(name, free_port())
        for name in services:
            stack.start_service(name)
        for name in services:
            stack.wait_healthy(name)
        return stack

    yield make
    for stack in started:
        stack.stop()
