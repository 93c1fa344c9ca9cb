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
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from bench.common import free_port, log_file, start_process, stop_process, wait_port

TOKEN = "bench-token-0123456789"  # noqa: S105 - a throw-away token for a local benchmark
LIVEFEED = str(Path(sys.executable).parent / "livefeed")


@dataclass
class Stack:
    """Some livefeed services against one Redis; a context manager that stops them all."""

    redis_url: str
    services: tuple[str, ...] = ("ingest", "worker", "push")
    log_level: str = "WARNING"
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The LIVEFEED_* variables every service gets."""
        self.ports = self.ports or {
            "ingest": free_port(),
            "feed": free_port(),
            "push": free_port(),
        }
        return {
            "LIVEFEED_REDIS_URL": self.redis_url,
            "LIVEFEED_HOST": "127.0.0.1",
            "LIVEFEED_INGEST_PORT": str(self.ports["ingest"]),
            "LIVEFEED_FEED_PORT": str(self.ports["feed"]),
            "LIVEFEED_PUSH_PORT": str(self.ports["push"]),
            "LIVEFEED_INGEST_TOKENS": TOKEN,
            "LIVEFEED_LOG_LEVEL": self.log_level,
            "LIVEFEED_WINDOW_DAYS": "0",
            # One load generator, one address, one token: lift the per-address connection cap
            # and the per-token rate limit, which would otherwise answer 503 and 429.
            "LIVEFEED_MAX_CONNECTIONS_PER_IP": "100000",
            "LIVEFEED_INGEST_RATE_LIMIT": "0",
            **self.extra_env,
        }

    def start(self) -> Stack:
        """Start the services; wait for each HTTP/WebSocket port to listen."""
        env = self.env()
        for name in self.services:
            self.logs[name] = log_file(name)
            self.procs[name] = start_process([LIVEFEED, name], env, self.logs[name])
        for name in self.services:
            if name in self.ports:
                wait_port(self.ports[name], self.procs[name])
        if "push" in self.services:
            self._wait_ready(f"http://127.0.0.1:{self.ports['push']}/readyz")
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

    def stop(self) -> None:
        """SIGTERM every service (ingest first, so nothing new arrives)."""
        for name in self.services:
            proc = self.procs.get(name)
            if proc is not None:
                stop_process(proc)

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
