"""Edge caches and editions: a change to an article purges its edition's views (``lang:<e>``),
including the one it leaves, and leaves the other editions' views cached."""

from __future__ import annotations

import httpx
import pytest

from tests.edge.conftest import Edge
from tests.edge.test_purge import PURGE_DEADLINE_S, warm
from tests.helpers import Ingest, article, eventually

pytestmark = pytest.mark.slow

UK_VIEWS = ["/?lang=uk", "/v1/timeline?lang=uk", "/v1/fragment?lang=uk", "/feed.rss?lang=uk"]
EN_VIEWS = ["/?lang=en", "/v1/timeline?lang=en", "/feed.rss?lang=en"]


async def test_a_change_purges_its_editions_views_and_only_those(
    edge: Edge, http: httpx.AsyncClient
) -> None:
    ingest = Ingest(edge.stack, http)
    await ingest.apply(
        {
            "articles": [
                article("ed-uk", title="Перша редакція", language="uk", version=1),
                article("ed-en", title="English edition", language="en"),
            ]
        }
    )
    for path in UK_VIEWS:
        await warm(http, edge, path, "Перша редакція")
    for path in EN_VIEWS:
        await warm(http, edge, path, "English edition")

    # A Ukrainian change: every uk view shows it within the deadline...
    await ingest.post({"articles": [article("ed-uk", title="Друга редакція", language="uk",
                                            version=2)]})  # fmt: skip
    for path in UK_VIEWS:

        async def updated(path: str = path) -> bool:
            text = (await http.get(edge.varnish.url + path)).text
            return "Друга редакція" in text and "Перша редакція" not in text

        await eventually(updated, PURGE_DEADLINE_S + 3, f"{path} shows the change", interval=0.01)
    # ...and the English edition's views stay cached.
    for path in EN_VIEWS:
        response = await http.get(edge.varnish.url + path)
        assert response.headers["x-cache"] == "HIT", f"{path} was purged by a uk change"

    # It moves to English: it leaves the uk views (purged as it left) and enters the en ones.
    await ingest.post({"articles": [article("ed-uk", title="Now in English", language="en",
                                            version=3)]})  # fmt: skip
    for path in UK_VIEWS:

        async def gone(path: str = path) -> bool:
            text = (await http.get(edge.varnish.url + path)).text
            return "Друга редакція" not in text and "Now in English" not in text

        await eventually(gone, PURGE_DEADLINE_S + 3, f"{path} lost it", interval=0.01)
    for path in EN_VIEWS:

        async def entered(path: str = path) -> bool:
            return "Now in English" in (await http.get(edge.varnish.url + path)).text

        await eventually(entered, PURGE_DEADLINE_S + 3, f"{path} shows it", interval=0.01)
