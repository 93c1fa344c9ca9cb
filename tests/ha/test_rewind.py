"""Readers across a failover that lost events: the new primary lagged, so events readers were
already sent are not in its log. They are sent away (1012) and their resume gets ``reset``;
never a silent continuation as if those events still stood."""

from __future__ import annotations

import signal

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.ha.conftest import HaStackFactory
from tests.ha.topology import SentinelGroup
from tests.helpers import Feed, Ingest, article, eventually, subscribe

pytestmark = pytest.mark.slow


async def test_readers_reset_when_a_failover_loses_events_they_saw(
    group: SentinelGroup, ha_stack: HaStackFactory
) -> None:
    stack = ha_stack()
    async with httpx.AsyncClient(timeout=10) as http:
        ingest, feed = Ingest(stack, http), Feed(stack, http)
        await ingest.apply(article("rw-1"))
        since = (await feed.timeline())["event_id"]
        async with subscribe(stack.ws_url, since=since) as stream:
            assert (await stream.next())["type"] == "hello"
            old = group.primary()
            replicas = [n for n in group.data if n is not old]
            # The replicas fall behind: stopped, and their links cut by the primary (while they
            # cannot reconnect), so what follows is on the primary only.
            for node in replicas:
                node.signal(signal.SIGSTOP)
            old.client().client_kill_filter(_type="replica")
            await ingest.apply(article("rw-2"))
            seen = await stream.next()
            assert seen["headline"]["id"] == "rw-2"
            old.signal(signal.SIGKILL)
            for node in replicas:
                node.signal(signal.SIGCONT)
            # rw-2's event is not in the new primary's log: the reader must not go on as if it
            # were; it is told to reconnect.
            with pytest.raises(ConnectionClosed) as closed:
                await stream.next(timeout=40)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1012
        assert group.primary() is not old

        async def resumed() -> list[dict[str, object]] | None:
            try:
                async with subscribe(stack.ws_url, since=seen["event_id"]) as again:
                    return [await again.next(), await again.next()]
            except (OSError, ConnectionClosed, TimeoutError):
                return None

        hello, reset = await eventually(resumed, timeout=20, what="a resume after failover")
        assert hello["type"] == "hello"
        assert reset == {"type": "reset"}
        # The page reloads the timeline: the new primary's truth (rw-2 was lost with the old
        # primary: it was answered 202 without LIVEFEED_REDIS_MIN_REPLICAS).
        assert await feed.ids() == ["rw-1"]
