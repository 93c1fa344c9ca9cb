"""Real livefeed services (``livefeed ingest|worker|push``) as subprocesses for the benchmarks.

Every service runs exactly as ``livefeed up`` starts it, on free ports, against a given Redis,
with ``LIVEFEED_LOG_LEVEL=WARNING`` (ingest logs one INFO line per request otherwise, which would
measure the log writer rather than the service), the per-address connection cap lifted and the
per-token ingest rate limit off (all load comes from one address with one token).
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import free_port, log_file, start_process, stop_process, wait_port

TOKEN = "bench-token-0123456789"  # noqa: S105 - a throw-away token for a local benchmark
LIVEFEED = str(Path(sys.executable).parent / "livefeed")
# service -> its port's LIVEFEED_ variable
PORTS = {
    "ingest": "INGEST_PORT",
    "feed": "FEED_PORT",
    "push": "PUSH_PORT",
    "worker": "WORKER_METRICS_PORT",
    "purger": "PURGER_PORT",
    "notifier": "NOTIFIER_PORT",
    "grip-publisher": "GRIP_PUBLISHER_PORT",
}
# services whose /readyz is waited for after their port listens (push: Redis and the hub up;
# the grip-publisher: its stream consumer running)
READY = ("push", "grip-publisher")


@dataclass
class Stack(AbstractContextManager["Stack"]):
    """Some livefeed services against one Redis; a context manager that stops them all."""

    redis_url: str
    services: tuple[str, ...] = ("ingest", "worker", "push")
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The LIVEFEED_* variables every service gets."""
        self.ports = self.ports or {name: free_port() for name in PORTS}
        return {
            "LIVEFEED_REDIS_URL": self.redis_url,
            "LIVEFEED_HOST": "127.0.0.1",
            **{f"LIVEFEED_{var}": str(self.ports[name]) for name, var in PORTS.items()},
            "LIVEFEED_INGEST_TOKENS": TOKEN,
            "LIVEFEED_LOG_LEVEL": "WARNING",
            "LIVEFEED_WINDOW_DAYS": "0",
            # One load generator, one address, one token: lift the per-address connection cap
            # and the per-token rate limit, which would otherwise answer 503 and 429.
            "LIVEFEED_MAX_CONNECTIONS_PER_IP": "100000",
            "LIVEFEED_INGEST_RATE_LIMIT": "0",
            **self.extra_env,
        }

    def __enter__(self) -> Stack:
        """Start the services; wait for each port to listen and push to be ready."""
        try:
            env = self.env()
            for name in self.services:
                self.procs[name] = start_process([LIVEFEED, name], env, log_file(name))
            for name in self.services:
                wait_port(self.ports[name], self.procs[name])
            for name in READY:
                if name in self.services:
                    self._wait_ready(f"http://127.0.0.1:{self.ports[name]}/readyz")
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self, url: str, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{url} not ready within {timeout_s:.0f} s")

    @property
    def ingest_url(self) -> str:
        """Base URL of ingest."""
        return f"http://127.0.0.1:{self.ports['ingest']}"

    @property
    def push_url(self) -> str:
        """The stream's WebSocket URL."""
        return f"ws://127.0.0.1:{self.ports['push']}/v1/stream"

    def pid(self, name: str) -> int:
        """Process id of one service."""
        return self.procs[name].pid

    def __exit__(self, *exc: Any) -> None:
        """SIGTERM every service (ingest first, so nothing new arrives)."""
        for proc in self.procs.values():
            stop_process(proc)
