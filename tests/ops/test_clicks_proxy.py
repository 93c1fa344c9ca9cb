"""Headline opens through the shipped proxy (deploy/nginx.conf, the real nginx): the beacon
reaches the feed and leaves no line in nginx's log; the stats and the top list are ingest's."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from shared import keys
from tests.helpers import Ingest, article, eventually
from tests.nginx import VARNISH_ADDRESS, Nginx, service_address
from tests.procs import Stack

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 ProxiedReader/3.3"
)


@pytest.fixture(scope="module")
def proxy(stack: Stack) -> Iterator[Nginx]:
    upstreams = {service_address(name): stack.ports[name] for name in ("feed", "ingest", "push")}
    upstreams[VARNISH_ADDRESS] = stack.ports["feed"]  # reads straight to feed (no Varnish here)
    nginx = Nginx(upstreams).start()
    try:
        yield nginx
    finally:
        nginx.stop()


async def test_a_beacon_passes_the_proxy_unlogged_and_the_newsroom_reads_it_from_ingest(
    proxy: Nginx, fresh: Stack, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    await Ingest(fresh, http).apply(article("px-1"))
    beacon = await http.post(
        f"{proxy.url}/v1/clicks",
        content=b'{"id": "px-1"}',
        headers={
            "Content-Type": "text/plain;charset=UTF-8",
            "Origin": fresh.url("feed"),
            "User-Agent": BROWSER,
            "Referer": "https://news.example/reader-page",
        },
    )
    assert beacon.status_code == 204, beacon.text
    assert redis_client.hvals(keys.clicks_article("px-1")) == [b"1"]

    auth = {"Authorization": f"Bearer {fresh.token}"}
    stats = await http.get(f"{proxy.url}/v1/articles/px-1/stats", headers=auth)
    assert stats.status_code == 200, stats.text
    assert stats.json()["clicks"]["total"] == 1
    top = await http.get(f"{proxy.url}/v1/clicks/top", headers=auth)
    assert [h["id"] for h in top.json()["top"]] == ["px-1"]

    # nginx logs the other requests (written as each ends), never the beacon.
    async def logged() -> bool:
        return "/v1/clicks/top" in proxy.log()

    await eventually(logged, 5, "the top list's request in nginx's log")
    log = proxy.log()
    assert "POST /v1/clicks " not in log
    assert "ProxiedReader" not in log
    assert "reader-page" not in log
