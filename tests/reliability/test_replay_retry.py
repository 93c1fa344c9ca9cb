"""A resume whose first Redis read fails (no connection to be had for a moment) is retried
within the reader's deadline, not closed with 1011.

The fault is real: Redis refuses new connections (``maxclients`` reached) and every existing
client connection is killed, so the push process's replay must open a new one and is turned
away; a moment later Redis takes connections again.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import redis
import websockets
from websockets.exceptions import ConnectionClosed

from shared import keys
from tests.helpers import Ingest, article, eventually
from tests.reliability.conftest import StackFactory

ARTICLES = ["replayed-1", "replayed-2", "replayed-3"]
RETRY_LOGGED = "replay read failed, retrying"


async def test_a_resume_survives_redis_turning_connections_away_for_a_moment(
    make_stack: StackFactory,
) -> None:
    stack, server = make_stack(LIVEFEED_REDIS_TIMEOUT="1")
    admin = redis.Redis.from_url(server.url)
    async with httpx.AsyncClient(timeout=10) as http:
        await Ingest(stack, http).apply({"articles": [article(a) for a in ARTICLES]})
    newest = admin.xrevrange(keys.EVENTS, count=1)[0][0].decode()

    async def push_has_newest() -> bool:
        async with websockets.connect(stack.ws_url, open_timeout=5) as ws:
            return bool(json.loads(await ws.recv())["event_id"] == newest)

    await eventually(push_has_newest, what="the push process has read every event")
    push_log = stack.workdir / "push.log"

    # since=0-0 reaches back past the push process's memory: the replay reads Redis.
    admin.config_set("maxclients", 1)  # only this admin connection: new ones are refused
    try:
        admin.client_kill_filter(_type="normal", skipme=True)
        async with websockets.connect(f"{stack.ws_url}?since=0-0", open_timeout=5) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            first = asyncio.ensure_future(ws.recv())

            async def failed_once() -> bool:
                # Retrying (the fix) or closed with 1011 (before it): either way the first
                # read has failed, and Redis may take connections again.
                return first.done() or RETRY_LOGGED in push_log.read_text()

            await eventually(failed_once, timeout=10, what="the replay's first read failed")
            admin.config_set("maxclients", 10_000)
            try:
                got = [json.loads(await asyncio.wait_for(first, 10))]
                got += [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in ARTICLES[1:]]
            except ConnectionClosed as closed:
                raise AssertionError(f"the resumed reader was closed: {closed}") from closed
    finally:
        admin.config_set("maxclients", 10_000)
        admin.close()
    assert [m["headline"]["id"] for m in got] == ARTICLES
    assert all(m["type"] == "published" for m in got)
    assert RETRY_LOGGED in push_log.read_text()
