"""The edge as shipped: deploy/nginx.conf on the real nginx, in front of deploy/varnish/default.vcl
on the real Varnish, in front of the real feed, with the real purger purging it.

Every view valid under the documented limits passes (200 headlines with 200-character ids), a
reader never sees what a view is filed under, and a change to such a headline still purges every
cached view it is in."""

from __future__ import annotations

import httpx
import pytest

from tests.edge.conftest import Edge
from tests.helpers import Ingest, article, eventually, long_id_articles
from tests.nginx import Nginx

pytestmark = pytest.mark.slow

HEAVY_VIEWS = ["/?limit=200", "/v1/timeline?limit=200", "/feed.rss?limit=200"]
EDGE_ONLY = ("surrogate-key", "cache-tag", "xkey", "surrogate-control")
PURGE_DEADLINE_S = 5.0


async def cached(http: httpx.AsyncClient, url: str, text: str) -> httpx.Response:
    """Until ``url`` comes from Varnish's cache (X-Cache: HIT) showing ``text``."""

    async def hit() -> httpx.Response | None:
        response = await http.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        ok = response.headers.get("x-cache") == "HIT" and text in response.text
        return response if ok else None

    return await eventually(hit, 10, f"{url} cached at the edge with {text!r}")


async def test_views_of_200_headlines_with_200_character_ids_pass_nginx_and_varnish(
    edge: Edge, proxy: Nginx, http: httpx.AsyncClient
) -> None:
    items = long_id_articles(200, tag="heavy")
    assert {len(item["id"]) for item in items} == {200}
    await Ingest(edge.stack, http).apply({"articles": items})
    for path in HEAVY_VIEWS:
        response = await http.get(proxy.url + path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        for item in items:
            assert item["title"] in response.text, (path, item["title"])
        # What a view is filed under stays at the edge, through nginx and at Varnish itself.
        for url in (proxy.url + path, edge.varnish.url + path):
            shown = {name for name in EDGE_ONLY if name in (await http.get(url)).headers}
            assert not shown, (url, shown)
        await cached(http, proxy.url + path, items[-1]["title"])
    one = await http.get(f"{proxy.url}/v1/articles/{items[0]['id']}")
    assert one.status_code == 200
    assert one.json()["id"] == items[0]["id"]
    assert not {name for name in EDGE_ONLY if name in one.headers}
    assert "upstream sent too big header" not in proxy.log()


async def test_a_change_to_a_long_id_headline_purges_every_view_it_is_in(
    edge: Edge, proxy: Nginx, http: httpx.AsyncClient
) -> None:
    ingest = Ingest(edge.stack, http)
    items = long_id_articles(200, tag="purge", published_at="2024-10-24T18:00:00+03:00")
    await ingest.apply({"articles": items})
    target = items[100]
    # Without a section, the article's own view is named by its article key alone: only the
    # purger computing the same digest as the feed purges it.
    views = [*HEAVY_VIEWS, f"/v1/articles/{target['id']}"]
    for path in views:
        await cached(http, proxy.url + path, target["title"])

    await ingest.post({"articles": [article(target["id"], title="Reworded headline", version=2)]})
    for path in views:

        async def reworded(path: str = path) -> bool:
            text = (await http.get(proxy.url + path)).text
            return "Reworded headline" in text and target["title"] not in text

        await eventually(reworded, PURGE_DEADLINE_S, f"{path} shows the update", interval=0.02)
        await cached(http, proxy.url + path, "Reworded headline")

    deleted = await http.delete(f"{ingest.base}/v1/articles/{target['id']}", headers=ingest.auth)
    assert deleted.status_code == 202, deleted.text
    for path in views:

        async def gone(path: str = path) -> bool:
            response = await http.get(proxy.url + path)
            if path.startswith("/v1/articles/"):
                return response.status_code == 404
            return response.status_code == 200 and "Reworded headline" not in response.text

        await eventually(gone, PURGE_DEADLINE_S, f"{path} lost the retraction", interval=0.02)
