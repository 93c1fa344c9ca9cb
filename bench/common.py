"""Helpers shared by the benchmark servers, clients and driver."""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

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
