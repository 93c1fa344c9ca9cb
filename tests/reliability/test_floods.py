"""Floods: connection caps per address and per process, the ingest rate limit, a reconnect storm."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidMessage, InvalidStatus

from tests.helpers import Ingest, article
from tests.procs import REPO, free_port
from tests.reliability.conftest import StackFactory


async def _refused(url: str, source: str) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(url, open_timeout=5, local_addr=(source, 0)):
            pass
    return refused.value


async def test_connection_caps_per_address_and_per_process(make_stack: StackFactory) -> None:
    stack, _server = make_stack(
        services=("push",), LIVEFEED_MAX_CONNECTIONS_PER_IP="5", LIVEFEED_MAX_CONNECTIONS="8"
    )
    url = stack.ws_url
    mine = [await websockets.connect(url, local_addr=("127.0.0.1", 0)) for _ in range(5)]
    # Counted from accept: one more from the address is closed as it is accepted, before it
    # holds a descriptor for longer than that (a flood of idle sockets: test_idle_sockets.py).
    with pytest.raises(InvalidMessage):
        async with websockets.connect(url, open_timeout=5, local_addr=("127.0.0.1", 0)):
            pass

    # Other addresses still get in, up to the process's cap.
    others = [await websockets.connect(url, local_addr=("127.0.0.2", 0)) for _ in range(3)]
    full = await _refused(url, "127.0.0.3")
    assert full.response.status_code == 503
    assert "full" in json.loads(full.response.body)["detail"]
    for ws in mine + others:
        assert (json.loads(await ws.recv()))["type"] == "hello"  # the admitted are served

    # A closed connection gives its slot back, to its address and to the process.
    await mine.pop().close()
    deadline = time.monotonic() + 5
    while True:
        try:
            mine.append(await websockets.connect(url, local_addr=("127.0.0.1", 0)))
            break
        except (InvalidMessage, InvalidStatus):
            assert time.monotonic() < deadline, "a closed connection kept its slot"
    for ws in mine + others:
        await ws.close()


async def test_ingest_rate_limit_per_token_holds_across_copies(make_stack: StackFactory) -> None:
    stack, _server = make_stack(
        services=("ingest",),
        LIVEFEED_INGEST_RATE_LIMIT="5",
        LIVEFEED_INGEST_TOKENS="token-aaaa-1,token-bbbb-2",
    )
    second = free_port()
    stack.start_service("ingest", key="ingest2", LIVEFEED_INGEST_PORT=str(second))
    stack.wait_healthy("ingest", port=second)
    first = stack.url("ingest")
    async with httpx.AsyncClient(timeout=10) as http:

        async def post(base: str, token: str, n: int) -> httpx.Response:
            return await http.post(
                f"{base}/v1/articles",
                json=article(f"rl-{n}"),
                headers={"Authorization": f"Bearer {token}"},
            )

        for n in range(5):
            assert (await post(first, "token-aaaa-1", n)).status_code == 202
        limited = await post(first, "token-aaaa-1", 5)
        # The window may roll over between requests: then the next one is limited instead.
        if limited.status_code == 202:
            for n in range(5):
                await post(first, "token-aaaa-1", 10 + n)
            limited = await post(first, "token-aaaa-1", 20)
        assert limited.status_code == 429, limited.text
        assert limited.headers["content-type"] == "application/problem+json"
        assert 1 <= int(limited.headers["retry-after"]) <= 61
        assert limited.json()["errors"][0]["field"] == "authorization"
        # The other copy of ingest shares the count (it lives in Redis) ...
        assert (await post(f"http://127.0.0.1:{second}", "token-aaaa-1", 6)).status_code == 429
        # ... and another token has its own.
        assert (await post(first, "token-bbbb-2", 7)).status_code == 202
    log = "".join(p.read_text() for p in stack.workdir.glob("ingest*.log"))
    assert "token-aaaa-1" not in log


STORM = 5000


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_reconnect_storm_with_since_is_served_without_error(
    make_stack: StackFactory,
) -> None:
    # The crowd comes from one address, as through a proxy: every cap of that address is raised.
    stack, _server = make_stack(
        LIVEFEED_MAX_CONNECTIONS_PER_IP=str(STORM + 10),
        LIVEFEED_PUSH_MAX_HANDSHAKING_PER_IP=str(STORM),
        LIVEFEED_PUSH_MAX_HANDSHAKING=str(STORM),
    )
    async with httpx.AsyncClient(timeout=10) as http:
        ingest = Ingest(stack, http)
        await ingest.apply(article("start"))
        since = (await http.get(f"{stack.url('feed')}/v1/timeline")).json()["event_id"]
        missed = [f"m-{n}" for n in range(10)]
        await ingest.apply({"articles": [article(m) for m in missed]})
    started = time.monotonic()
    crowd = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tests.reliability.crowd", stack.ws_url, str(STORM), "10", since],
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(crowd.communicate(), 200)
    took = time.monotonic() - started
    assert crowd.returncode == 0, err.decode()[-2000:]
    result: dict[str, Any] = json.loads(out.decode().splitlines()[-1])
    assert result["failed"] == 0, result["failures"]
    for client in result["clients"]:
        assert client["ids"] == missed
    print(f"{STORM} reconnects with since served in {took:.1f}s")
