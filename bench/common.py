"""Helpers shared by the benchmark servers, clients and driver."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.redis_server import EmbeddedRedis

log = logging.getLogger("bench")

EventHandler = Callable[[str, dict[str, str]], Awaitable[None] | None]


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def install_loop(name: str) -> None:
    """Install uvloop's event loop policy when *name* is ``uvloop``; keep asyncio's otherwise."""
    if name == "uvloop":
        import uvloop  # local import: optional speed-up

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def make_frame(event_id: str, fields: dict[str, str]) -> str:
    """Build the push frame for one stream entry by string concatenation (no JSON round trip).

    The entry carries ``type``, ``id`` and ``data`` (the headline JSON); the frame follows the
    livefeed push contract: ``{"type", "event_id", "headline"}``.
    """
    kind = fields.get("type", "published")
    return '{"type":"' + kind + '","event_id":"' + event_id + '","headline":' + fields["data"] + "}"


def _stream_items(reply: object) -> list[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """Normalise an XREAD reply: RESP3 gives ``{key: entries}``, RESP2 ``[[key, entries]]``."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(reply.items())
    return [(item[0], item[1]) for item in reply]  # type: ignore[attr-defined]


async def read_stream(
    redis: Redis,
    stream: str,
    on_event: EventHandler,
    stop: asyncio.Event,
    block_ms: int = 1000,
    count: int = 100,
) -> None:
    """Follow *stream* with one ``XREAD BLOCK`` loop from ``$`` and hand each entry to *on_event*.

    Runs until *stop* is set; a Redis error is logged and retried after a short pause.
    The client must use ``decode_responses=True``.
    """
    last_id = "$"
    while not stop.is_set():
        try:
            reply = await redis.xread({stream: last_id}, block=block_ms, count=count)
        except RedisError as exc:
            log.warning("XREAD failed: %s", exc)
            await asyncio.sleep(0.5)
            continue
        for _key, entries in _stream_items(reply):
            for entry_id, fields in entries:
                last_id = entry_id
                result = on_event(entry_id, fields)
                if result is not None:
                    await result


REPO_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def bench_redis(appendfsync: str = "no") -> Iterator[EmbeddedRedis]:
    """livefeed's embedded Redis in a throw-away folder (unix socket, append-only file).

    ``appendfsync="always"`` is what ``livefeed up`` runs with; the fan-out benchmarks use
    ``"no"`` because they measure the push hop, not the disk.
    """
    folder = Path(tempfile.mkdtemp(prefix="lfb-"))
    try:
        with EmbeddedRedis(folder, appendfsync=appendfsync) as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """Wait until something accepts TCP connections on *port*; fail if *proc* exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {timeout_s:.0f} s")


def start_process(
    command: list[str], env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start a subprocess from the repo root, stdout/stderr appended to *log_path*."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **env)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command, cwd=REPO_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip


def start_server(
    command: list[str], env: dict[str, str], log_path: Path, port: int
) -> subprocess.Popen[bytes]:
    """start_process, then wait until *port* listens (stopping the process if it never does)."""
    proc = start_process(command, env, log_path)
    try:
        wait_port(port, proc)
    except RuntimeError:
        stop_process(proc)
        raise
    return proc


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM the process, SIGKILL it after *timeout_s*."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def percentile(sorted_values: list[int] | list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return float(sorted_values[rank])


def log_file(name: str) -> Path:
    """A fresh log file for one benchmark process (kept after the run for post-mortems)."""
    return Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])


def server_args(doc: str | None, argv: list[str] | None = None) -> argparse.Namespace:
    """A bench server's command line (--port, --redis-url, --stream, --host, --loop); then set up
    its logging (no line per connection) and the fd limit."""
    p = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--redis-url", required=True)
    p.add_argument("--stream", default="bench:events")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    raise_nofile_limit()
    return args
