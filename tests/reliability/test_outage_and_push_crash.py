"""Redis away for 30 s, and a push process killed: readers keep every event, once, in order."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.helpers import Ingest, article, eventually, subscribe
from tests.procs import free_port
from tests.reliability.conftest import StackFactory

OUTAGE_S = 30


async def _status(http: httpx.AsyncClient, url: str) -> int:
    try:
        return (await http.get(f"{url}/readyz")).status_code
    except httpx.HTTPError:
        return 0


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_redis_down_30s_readers_stay_connected_and_resume(make_stack: StackFactory) -> None:
    # Pings every 2 s: a dead ping round-trip would close the clients well within the outage.
    stack, server = make_stack(LIVEFEED_PING_INTERVAL="2", LIVEFEED_REDIS_TIMEOUT="1")
    async with httpx.AsyncClient(timeout=5) as http:
        ingest = Ingest(stack, http)
        async with (
            subscribe(stack.ws_url) as live,
            subscribe(stack.ws_url, section="news") as filtered,
        ):
            for stream in (live, filtered):
                assert (await stream.next())["type"] == "hello"
            await ingest.apply(article("before", section="news"))
            for stream in (live, filtered):
                assert (await stream.next())["headline"]["id"] == "before"

            server.stop()
            started = time.monotonic()
            answers: dict[int, int] = {}

            async def refused_throughout() -> bool:
                """A post and three readiness probes, all refused; True once the outage is over."""
                n = sum(answers.values())
                response = await ingest.post(article(f"during-{n}", section="news"))
                answers[response.status_code] = answers.get(response.status_code, 0) + 1
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"
                for name in ("ingest", "feed", "push"):
                    assert await _status(http, stack.url(name)) == 503, name
                return time.monotonic() - started >= OUTAGE_S

            await eventually(refused_throughout, OUTAGE_S + 30, "the outage ran", interval=0.5)
            # Both readers are still connected after 30 s (several missed pings' worth).
            for stream in (live, filtered):
                assert stream.ws.state.name == "OPEN"
            server.start()
            for name in ("ingest", "feed", "push"):

                async def ready(url: str = stack.url(name)) -> bool:
                    return await _status(http, url) == 200

                await eventually(ready, 30, f"{name} ready again", interval=0.1)
            after = [f"after-{i}" for i in range(5)]
            for article_id in after:
                await ingest.apply(article(article_id, section="news"))
            for stream in (live, filtered):
                got = [(await stream.next(timeout=15))["headline"]["id"] for _ in after]
                assert got == after  # every one, in order, nothing from before repeated
                with pytest.raises(TimeoutError):
                    await stream.next(timeout=0.5)  # and nothing more
    push_log = (stack.workdir / "push.log").read_text()
    assert "stream reader lost Redis" in push_log
    assert "stream reader reconnected" in push_log
    print(f"outage {OUTAGE_S}s: answers {answers}")


async def _collect(ws: ClientConnection, into: list[dict[str, Any]]) -> None:
    async for raw in ws:
        into.append(json.loads(raw))


@pytest.mark.timeout(90)
async def test_push_killed_clients_resume_on_another_push_and_lose_nothing(
    make_stack: StackFactory,
) -> None:
    stack, _server = make_stack()
    second_port = free_port()
    stack.start_service("push", key="push2", LIVEFEED_PUSH_PORT=str(second_port))
    stack.wait_healthy("push", port=second_port)
    clients = 20
    total = 60
    async with httpx.AsyncClient(timeout=10) as http:
        ingest = Ingest(stack, http)
        await ingest.apply(article("first"))
        timeline = (await http.get(f"{stack.url('feed')}/v1/timeline")).json()
        since = timeline["event_id"]

        received: list[list[dict[str, Any]]] = [[] for _ in range(clients)]
        posted: list[str] = []
        switched = [False] * clients

        async def reader(n: int) -> None:
            # A browser: on an abnormal close, reconnect (to the other push) with since.
            url = stack.ws_url
            last = since
            while True:
                try:
                    async with websockets.connect(f"{url}?since={last}", open_timeout=5) as ws:
                        async for raw in ws:
                            message = json.loads(raw)
                            if message["type"] == "hello":
                                continue
                            received[n].append(message)
                            last = message["event_id"]
                            if len(received[n]) >= total:
                                return
                except (OSError, websockets.ConnectionClosed):
                    switched[n] = True
                    url = f"ws://127.0.0.1:{second_port}/v1/stream"

        readers = [asyncio.create_task(reader(n)) for n in range(clients)]
        for i in range(total):
            await ingest.apply(article(f"p-{i}"))
            posted.append(f"p-{i}")
            if i == total // 3:
                stack.services["push"].stop(signal.SIGKILL)
        await asyncio.wait_for(asyncio.gather(*readers), 30)
    assert all(switched), "some clients never lost their push process"
    for n in range(clients):
        ids = [m["headline"]["id"] for m in received[n]]
        assert ids == posted, f"client {n}: lost or repeated {set(posted) ^ set(ids)}"
