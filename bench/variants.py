"""Server variants the fan-out driver can measure.

A variant is everything the driver needs to know about one push server:

* ``command(ctx)`` / ``env(ctx)``: how to start it as a subprocess listening on ``ctx.port`` and
  reading Redis at ``ctx.redis_url`` (the process tree it starts is what gets measured);
* ``url(ctx)`` / ``protocol`` / ``origin``: how the clients connect (``ws`` or ``socketio``);
* ``stream`` and ``write_event(client, stream, headline)``: how one headline gets into Redis so
  that this server pushes it. Every frame the server sends for it must contain the headline id
  ``bench-<seq>-<ts_ns>`` verbatim (that is how clients match frames and compute latency);
* ``unavailable()``: a reason to skip the variant, or None.

To add one, write a ``Variant(...)`` and put it in ``VARIANTS``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench.common import REPO_ROOT
from bench.publisher import EventWriter, Headline, write_stream_event


@dataclass(frozen=True)
class LaunchContext:
    """What the driver hands a variant when it starts the server."""

    port: int
    redis_url: str
    stream: str
    python: str = sys.executable
    repo_root: Path = REPO_ROOT
    host: str = "127.0.0.1"


def _no_env(ctx: LaunchContext) -> dict[str, str]:
    return {}


def _available() -> str | None:
    return None


@dataclass(frozen=True)
class Variant:
    """One server under test; see the module docstring for the contract."""

    name: str
    description: str
    command: Callable[[LaunchContext], list[str]]
    url: Callable[[LaunchContext], str]
    protocol: str = "ws"
    stream: str = "bench:events"
    write_event: EventWriter = write_stream_event
    env: Callable[[LaunchContext], dict[str, str]] = field(default=_no_env)
    origin: str | None = None
    unavailable: Callable[[], str | None] = field(default=_available)


def _module_command(module: str) -> Callable[[LaunchContext], list[str]]:
    """Command line for one of the bench servers (``python -m bench.<module> ...``)."""
    return lambda ctx: [
        ctx.python, "-m", module, "--host", ctx.host, "--port", str(ctx.port),
        "--redis-url", ctx.redis_url, "--stream", ctx.stream,
    ]  # fmt: skip


FLOOR = Variant(
    name="floor",
    description="websockets broadcast() of one prepared frame, compression off, XREAD BLOCK reader",
    command=_module_command("bench.floor_server"),
    url=lambda ctx: f"ws://{ctx.host}:{ctx.port}/",
)

SOCKETIO = Variant(
    name="socketio",
    description="python-socketio AsyncServer (ASGI, uvicorn), emit to all, XREAD BLOCK reader",
    command=_module_command("bench.socketio_server"),
    url=lambda ctx: f"ws://{ctx.host}:{ctx.port}",
    protocol="socketio",
)


# --- livefeed: the push service (``livefeed push``) reading ``lf:events`` ---


def write_livefeed_event(client: redis.Redis, stream: str, headline: Headline) -> None:
    """XADD the entry shape the feed worker's apply script writes.

    See shared/keys.py and services/push/events.py. Bypasses ingest and the worker on purpose:
    this measures the push hop only, like the other variants.
    """
    client.xadd(
        stream,
        {
            "type": "published",
            "id": headline.article_id,
            "headline": headline.json(),
            "sections": "world",
            "labels": "exclusive",
        },
        maxlen=10000,
        approximate=True,
    )


def _livefeed_env(ctx: LaunchContext) -> dict[str, str]:
    return {
        "LIVEFEED_REDIS_URL": ctx.redis_url,
        "LIVEFEED_HOST": ctx.host,
        "LIVEFEED_PUSH_PORT": str(ctx.port),
        "LIVEFEED_LOG_LEVEL": "WARNING",
        # Each client process has one source address (127.0.0.2, …): lift the per-address cap
        # (1,000) and the per-process one (20,000).
        "LIVEFEED_MAX_CONNECTIONS_PER_IP": "100000",
        "LIVEFEED_MAX_CONNECTIONS": "200000",
    }


def _livefeed_unavailable() -> str | None:
    exe = Path(sys.executable).parent / "livefeed"
    return None if exe.exists() else f"{exe} not installed (pip install -e . first)"


LIVEFEED = Variant(
    name="livefeed",
    description="livefeed push service (livefeed push), reading lf:events",
    command=lambda ctx: [str(Path(ctx.python).parent / "livefeed"), "push"],
    env=_livefeed_env,
    url=lambda ctx: f"ws://{ctx.host}:{ctx.port}/v1/stream",
    stream="lf:events",
    write_event=write_livefeed_event,
    unavailable=_livefeed_unavailable,
)

# Another checkout of livefeed (``BENCH_LIVEFEED_TREE``: e.g. a ``git worktree`` at the commit
# before a change), so one run measures before and after side by side.
OTHER_TREE_ENV = "BENCH_LIVEFEED_TREE"


def _other_tree() -> str:
    return os.environ.get(OTHER_TREE_ENV, "")


def _other_tree_command(ctx: LaunchContext) -> list[str]:
    # The tree goes first on sys.path (the driver runs every server from this repository).
    run = "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
    run += "runpy.run_module('services.cli', run_name='__main__')"
    return [ctx.python, "-c", run, _other_tree(), "push"]


def _other_tree_unavailable() -> str | None:
    tree = _other_tree()
    if not tree:
        return f"set {OTHER_TREE_ENV} to another livefeed checkout"
    return None if (Path(tree) / "services" / "cli.py").exists() else f"{tree}: not a checkout"


LIVEFEED_OTHER = Variant(
    name="livefeed-other",
    description=f"livefeed push from the checkout in {OTHER_TREE_ENV} (before/after a change)",
    command=_other_tree_command,
    env=_livefeed_env,
    url=LIVEFEED.url,
    stream="lf:events",
    write_event=write_livefeed_event,
    unavailable=_other_tree_unavailable,
)

VARIANTS: dict[str, Variant] = {v.name: v for v in (FLOOR, SOCKETIO, LIVEFEED, LIVEFEED_OTHER)}
