"""One rule for ``Origin`` (shared/origins.py): the feed's CORS and the push service's WebSocket
and SSE accept and refuse exactly the same origins.

Issue 21, finding 10: the feed lower-cased and dropped a trailing slash, push only dropped the
slash, so ``HTTPS://Site.Example`` got the column's JSON but not its stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.procs import Stack, free_port

# As an operator may write them: the second one upper-cased, with its default port and a slash.
CONFIGURED = "https://site.example,https://Other.Example:443/"
SAME = [
    "https://site.example",
    "HTTPS://Site.Example",
    "https://site.example/",
    "https://SITE.example:443",
    "https://other.example",
]
OTHERS = [
    "null",
    "https://site.example.evil",
    "https://site.example:8443",
    "http://site.example",
    "https://site.example/x",
    "https://evil.example",
]


@pytest.fixture
def embedded(fresh: Stack) -> Iterator[tuple[str, str, str]]:
    """A feed and a push process that let ``CONFIGURED`` embed the column: their base URLs and
    the stream's WebSocket URL."""
    ports = {"feed": free_port(), "push": free_port()}
    started = [
        fresh.start_service(
            "feed",
            key="feed-origins",
            LIVEFEED_FEED_PORT=str(ports["feed"]),
            LIVEFEED_EMBED_ORIGINS=CONFIGURED,
        ),
        fresh.start_service(
            "push",
            key="push-origins",
            LIVEFEED_PUSH_PORT=str(ports["push"]),
            LIVEFEED_EMBED_ORIGINS=CONFIGURED,
        ),
    ]
    try:
        for name, port in ports.items():
            fresh.wait_healthy(name, port=port)
        push = f"http://127.0.0.1:{ports['push']}"
        yield (
            f"http://127.0.0.1:{ports['feed']}",
            push,
            f"ws://127.0.0.1:{ports['push']}/v1/stream",
        )
    finally:
        for service in started:
            service.stop()


async def _feed_allows(http: httpx.AsyncClient, feed: str, origin: str) -> bool:
    response = await http.get(f"{feed}/v1/timeline", headers={"Origin": origin})
    assert response.status_code == 200
    assert "Origin" in response.headers["vary"]
    allowed = response.headers.get("access-control-allow-origin")
    assert allowed in (None, origin)  # the origin as sent, or nothing
    return allowed is not None


async def _sse_allows(http: httpx.AsyncClient, push: str, origin: str) -> bool:
    async with http.stream("GET", f"{push}/v1/events", headers={"Origin": origin}) as response:
        if response.status_code == 403:
            problem = json.loads(await response.aread())
            assert problem["errors"][0]["field"] == "origin"
            assert "access-control-allow-origin" not in response.headers
            return False
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin
        return True


async def _websocket_allows(ws_url: str, origin: str) -> bool:
    status = 101
    try:
        async with websockets.connect(ws_url, origin=origin, open_timeout=5) as ws:  # type: ignore[arg-type]
            assert json.loads(await ws.recv())["type"] == "hello"
    except InvalidStatus as refused:
        status = refused.response.status_code
    assert status in (101, 403)
    return status == 101


async def test_feed_cors_and_the_push_stream_agree_on_every_origin(
    embedded: tuple[str, str, str], http: httpx.AsyncClient
) -> None:
    feed, push, ws_url = embedded
    for origin in SAME + OTHERS:
        seen = {
            "feed CORS": await _feed_allows(http, feed, origin),
            "push SSE": await _sse_allows(http, push, origin),
            "push WebSocket": await _websocket_allows(ws_url, origin),
        }
        expected = origin in SAME
        assert seen == dict.fromkeys(seen, expected), (origin, seen)
    frame = await http.get(f"{feed}/embed")
    ancestors = next(
        part for part in frame.headers["content-security-policy"].split("; ")
        if part.startswith("frame-ancestors")
    )  # fmt: skip
    assert ancestors == "frame-ancestors 'self' https://other.example https://site.example"
