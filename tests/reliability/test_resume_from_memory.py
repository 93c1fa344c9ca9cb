"""Readers that resume from where the push process's memory begins are served from memory.

When the whole event log fitted in the push process's replay buffer at start-up, a resume
from any point of it, even from the very start (``since=0-0``), needs no Redis read: a storm
of reconnecting readers costs Redis nothing. Shown with Redis stalled (SIGSTOP): the resumes
still get every event, in order; before, they waited on Redis and were closed with 1011.
"""

from __future__ import annotations

import signal

import httpx

from tests.helpers import Ingest, article, subscribe
from tests.reliability.conftest import StackFactory


async def test_resumes_within_the_buffer_need_no_redis(make_stack: StackFactory) -> None:
    stack, server = make_stack(services=("ingest", "worker", "push"))
    ids = [f"mem-{n}" for n in range(3)]
    async with subscribe(stack.ws_url) as live, httpx.AsyncClient(timeout=10) as http:
        assert (await live.next())["type"] == "hello"
        for article_id in ids:
            await Ingest(stack, http).apply(article(article_id))
        seen = [await live.next() for _ in ids]  # the push process has them all
    assert [f["headline"]["id"] for f in seen] == ids
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    try:
        for since, expected in (("0-0", seen), (seen[0]["event_id"], seen[1:])):
            async with subscribe(stack.ws_url, since=since) as stream:
                assert (await stream.next(timeout=5))["type"] == "hello"
                got = [await stream.next(timeout=5) for _ in expected]
                assert [f["event_id"] for f in got] == [f["event_id"] for f in expected]
    finally:
        server.process.send_signal(signal.SIGCONT)
