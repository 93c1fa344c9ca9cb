"""Real livefeed processes for tests: started as the CLI starts them, on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]


def missing_tool(tool: str) -> NoReturn:
    """Skip on a laptop without ``tool``; under CI (which installs it) that is a failure."""
    message = f"{tool} is not installed (.ci/run installs it from Debian)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: object, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``condition()`` until it is truthy, failing after ``timeout`` seconds."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (OSError, httpx.HTTPError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


class QuietHandler(BaseHTTPRequestHandler):
    """A test server's request handler that logs nothing (the test asserts what matters)."""

    def log_message(self, format: str, *args: Any) -> None:
        return


class ThreadServer:
    """A small HTTP server of a test's own (a webhook, a publish endpoint, an origin) on a free
    port, serving from a daemon thread until ``close``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port: int = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Service:
    """One ``livefeed <service>`` child process."""

    name: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        """Start the process (logs go to ``log_path``)."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", self.name],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the process and wait for it; returns its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup."""
        self.stop(signal.SIGKILL)


@dataclass
class Stack:
    """ingest + worker + feed + push on one Redis, each a real process on its own port."""

    redis_url: str
    workdir: Path
    token: str = "test-token-1234"
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment every service of this stack gets."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEFEED_")}
        env.update(
            LIVEFEED_REDIS_URL=self.redis_url,
            LIVEFEED_DATA_DIR=str(self.workdir / "data"),
            LIVEFEED_INGEST_TOKENS=self.token,
            LIVEFEED_INGEST_PORT=str(self.ports["ingest"]),
            LIVEFEED_FEED_PORT=str(self.ports["feed"]),
            LIVEFEED_PUSH_PORT=str(self.ports["push"]),
            LIVEFEED_WORKER_METRICS_PORT=str(self.ports["worker"]),
            LIVEFEED_WINDOW_DAYS="0",
            LIVEFEED_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def start(self) -> Stack:
        """Start every service and wait until each answers."""
        for name in ("ingest", "feed", "push", "worker"):
            self.ports.setdefault(name, free_port())
        try:
            for name in ("ingest", "worker", "feed", "push"):
                self.start_service(name)
            for name in ("ingest", "feed", "push", "worker"):  # worker: its metrics port
                self.wait_healthy(name)
        except BaseException:
            self.stop()  # a stack that never came up leaves no process behind
            raise
        return self

    def start_service(self, name: str, key: str | None = None, **env: str) -> Service:
        """Start (or restart) one service; ``key`` names extra copies (``push2``)."""
        service = Service(name, self.env(**env), self.workdir / f"{key or name}.log").start()
        self.services[key or name] = service
        return service

    def url(self, name: str) -> str:
        """``http://127.0.0.1:<port>`` of an HTTP service."""
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def ws_url(self) -> str:
        """The stream endpoint."""
        return f"ws://127.0.0.1:{self.ports['push']}/v1/stream"

    def wait_healthy(self, name: str, port: int | None = None, timeout: float = 15.0) -> None:
        """Wait until ``/readyz`` answers 200."""
        target = f"http://127.0.0.1:{port or self.ports[name]}/readyz"
        wait_for(lambda: httpx.get(target, timeout=1).status_code == 200, timeout)

    def stop(self) -> None:
        """Stop every service."""
        for service in self.services.values():
            service.stop()

    def logs(self) -> str:
        """All service logs (for failure messages)."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.workdir.glob("*.log"))
        )
