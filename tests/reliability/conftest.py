"""Fixtures for fault injection: a Redis and a stack of services each test may break."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.procs import Stack, free_port

StackFactory = Callable[..., tuple[Stack, EmbeddedRedis]]


@pytest.fixture
def make_stack() -> Iterator[StackFactory]:
    """Start a stack on a Redis of its own (settings as keyword arguments); stopped afterwards."""
    started: list[tuple[Stack, EmbeddedRedis]] = []

    def make(
        *, services: tuple[str, ...] = ("ingest", "worker", "feed", "push"), **env: str
    ) -> tuple[Stack, EmbeddedRedis]:
        server = EmbeddedRedis(short_tmpdir())
        server.start()
        stack = Stack(server.url, short_tmpdir(), extra_env=env)
        started.append((stack, server))
        for name in ("ingest", "feed", "push", "worker"):  # worker: its metrics port
            stack.ports.setdefault(name, free_port())
        for name in services:
            stack.start_service(name)
        for name in services:
            if name != "worker":
                stack.wait_healthy(name)
        return stack, server

    yield make
    for stack, server in started:
        stack.stop()
        server.stop()


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (RQ forks its scheduler)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except FileNotFoundError:
        return []


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")
