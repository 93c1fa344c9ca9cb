"""The live summary at the edge: set through the shipped nginx, its views kept by Varnish for
an hour, and a change purging exactly the views of its scope (hard: the old text is never
served again), the others left cached."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.edge.conftest import Edge
from tests.helpers import article, eventually
from tests.nginx import Nginx

pytestmark = pytest.mark.slow

PURGE_DEADLINE_S = 2.0
NEWS_VIEWS = ["/?section=news", "/v1/timeline?section=news", "/v1/fragment?section=news",
              "/embed?section=news"]  # fmt: skip
SPORT_VIEWS = ["/?section=sport", "/v1/timeline?section=sport"]


async def test_a_summary_change_purges_the_views_of_its_scope_only(
    edge: Edge, proxy: Nginx, http: httpx.AsyncClient
) -> None:
    auth = {"Authorization": f"Bearer {edge.stack.token}"}

    async def put(text: str) -> None:
        # Through the shipped nginx: /v1/summary is ingest's.
        response = await http.put(
            f"{proxy.url}/v1/summary", json={"text": text, "section": "news"}, headers=auth
        )
        assert response.status_code == 200, response.text

    response = await http.post(
        f"{edge.stack.url('ingest')}/v1/articles",
        json={"articles": [article("s-news", section="news"), article("s-sport", section="sport")]},
        headers=auth,
    )
    assert response.status_code == 202
    await put("First summary of the news")

    async def cached(path: str, text: str) -> bool:
        response = await http.get(edge.varnish.url + path)
        return response.headers.get("x-cache") == "HIT" and text in response.text

    for path in NEWS_VIEWS:
        await eventually(lambda path=path: cached(path, "First summary"), 10, f"{path} cached")
    for path in SPORT_VIEWS:
        await eventually(lambda path=path: cached(path, "s-sport"), 10, f"{path} cached")
    edge.webhook.clear()

    started = time.monotonic()
    await put("Second summary of the news")
    took: dict[str, float] = {}
    for path in NEWS_VIEWS:

        async def replaced(path: str = path) -> bool:
            text = (await http.get(edge.varnish.url + path)).text
            assert "First summary" not in text or path not in took, f"{path} served the old one"
            return "Second summary" in text and "First summary" not in text

        await eventually(replaced, PURGE_DEADLINE_S, f"{path} shows the new summary", 0.01)
        took[path] = time.monotonic() - started
    print(f"\nsummary change gone from the edge: max {max(took.values()):.3f} s")
    for path in NEWS_VIEWS:  # never the old one again
        assert "First summary" not in (await http.get(edge.varnish.url + path)).text
    for path in SPORT_VIEWS:  # another section's views stay cached
        response = await http.get(edge.varnish.url + path)
        assert response.headers["x-cache"] == "HIT", f"{path} was purged by a news summary"
    # The webhook is told too (its POST may land after Varnish's purge).

    async def told() -> bool:
        return "summary:news:_" in edge.webhook.all_keys()

    await eventually(told, PURGE_DEADLINE_S, "the webhook told of summary:news:_")
    assert "timeline" not in edge.webhook.all_keys()
