"""The live page's LiveBlogPosting JSON-LD: extracted as a crawler does, expanded with pyld (a
JSON-LD processor: malformed JSON-LD raises), and checked against what search engines read."""

from __future__ import annotations

import json
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import httpx
from pyld import jsonld

from tests.helpers import Ingest, article
from tests.procs import Stack

SCHEMA = "https://schema.org/"
# schema.org's context, reduced to what these documents use: every term in schema.org's vocabulary
# (the real one is fetched from the web, which tests cannot reach).
CONTEXT = {"@context": {"@vocab": SCHEMA}}


def _loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    assert url.rstrip("/") in ("https://schema.org", "http://schema.org"), url
    return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url,
            "document": CONTEXT}  # fmt: skip


class _Blocks(HTMLParser):
    """Every ``<script type="application/ld+json">`` data block of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._inside = tag == "script" and ("type", "application/ld+json") in attrs
        if self._inside:
            self.blocks.append("")

    def handle_endtag(self, tag: str) -> None:
        self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.blocks[-1] += data


def live_blog(html: str) -> dict[str, Any]:
    parser = _Blocks()
    parser.feed(html)
    assert len(parser.blocks) == 1, parser.blocks
    doc: dict[str, Any] = json.loads(parser.blocks[0])
    return doc


def _first(node: dict[str, Any], name: str) -> Any:
    return node[SCHEMA + name][0].get("@value", node[SCHEMA + name][0])


async def test_the_page_carries_valid_live_blog_posting_json_ld(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    hostile = "Breaking </script><script>alert(1)</script> & more"
    # Entities: ingest strips markup, so literal "<script>" text is posted encoded.
    encoded = hostile.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    await ingest.apply(
        {
            "articles": [
                article(
                    "j-1",
                    title="Summit opens",
                    version=1,
                    url="https://example.com/j-1",
                    published_at="2024-10-24T09:00:00+03:00",
                ),
                article("j-2", title=encoded, published_at="2024-10-24T10:00:00+03:00"),
                article("j-3", title="To be retracted", published_at="2024-10-24T11:00:00+03:00"),
            ]
        }
    )
    await ingest.apply(
        article(
            "j-1",
            title="Summit opens in Kyiv",
            version=2,
            url="https://example.com/j-1",
            correction="It opens in Kyiv.",
            published_at="2024-10-24T09:00:00+03:00",
        )
    )
    response = await ingest.client.delete(f"{ingest.base}/v1/articles/j-3", headers=ingest.auth)
    await ingest.wait_applied(response)

    page = await http.get(f"{fresh.url('feed')}/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]  # unchanged CSP
    doc = live_blog(page.text)
    timeline = (await http.get(f"{fresh.url('feed')}/v1/timeline")).json()

    # Valid JSON-LD: pyld expands it (it raises on malformed JSON-LD) into schema.org terms.
    (blog,) = jsonld.expand(doc, {"documentLoader": _loader})
    assert blog["@type"] == [SCHEMA + "LiveBlogPosting"]
    assert _first(blog, "coverageStartTime") == "2024-10-24T09:00:00+03:00"
    last_event_ms = int(timeline["event_id"].split("-")[0])
    modified = datetime.fromisoformat(_first(blog, "dateModified"))
    assert round(modified.timestamp() * 1000) == last_event_ms  # the last event's time
    updates = blog[SCHEMA + "liveBlogUpdate"]
    assert len(updates) == 2  # the retracted item is absent
    for update in updates:
        assert update["@type"] == [SCHEMA + "BlogPosting"]
        for name in ("headline", "url", "datePublished", "dateModified"):
            assert SCHEMA + name in update, name
    j2, j1 = updates
    assert _first(j2, "headline") == hostile  # text, inside the data block
    assert _first(j1, "headline") == "Summit opens in Kyiv"
    assert _first(j1, "url") == "https://example.com/j-1"
    (correction,) = j1[SCHEMA + "correction"]
    assert correction["@type"] == [SCHEMA + "CorrectionComment"]
    assert _first(correction, "text") == "It opens in Kyiv."
    assert "<script>alert(1)" not in page.text  # escaped in the JSON, not markup
    # At most 50 updates however long the page.
    await ingest.apply({"articles": [article(f"m-{n}") for n in range(60)]})
    longer = live_blog((await http.get(f"{fresh.url('feed')}/?limit=80")).text)
    assert len(longer["liveBlogUpdate"]) == 50
