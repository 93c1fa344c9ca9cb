"""``more-href``: the column's "More news" link goes to the embedding site, never elsewhere.

Issue 21, finding 10: ``more-href=/\\evil.example/x`` passed the check meant to refuse
protocol-relative URLs, and browsers read ``/\\host`` as ``//host``, another site.
"""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import Feed, Ingest, article

ELSEWHERE = [
    "/\\evil.example/x",
    "//evil.example/x",
    "/\t/evil.example/x",  # browsers drop the tab
    "/\x01x",
    "/x\x7fy",
    "javascript:alert(1)",
    "https:///\\evil.example",
]


@pytest.mark.parametrize("path", ["/v1/fragment", "/embed"])
@pytest.mark.parametrize("more_href", ELSEWHERE)
async def test_a_more_href_that_leaves_the_site_is_refused_naming_it(
    feed: Feed, http: httpx.AsyncClient, path: str, more_href: str
) -> None:
    response = await http.get(feed.base + path, params={"more-href": more_href})
    assert response.status_code == 400, (more_href, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "more-href"


@pytest.mark.parametrize("more_href", ["/news", "/news?page=2", "https://www.example.com/news"])
async def test_the_site_s_own_more_page_is_the_link(
    ingest: Ingest, feed: Feed, http: httpx.AsyncClient, more_href: str
) -> None:
    await ingest.apply(article("more-1"))
    for path in ("/v1/fragment", "/embed"):
        response = await http.get(feed.base + path, params={"more-href": more_href})
        assert response.status_code == 200, response.text
        escaped = more_href.replace("&", "&amp;")
        assert f'more-href="{escaped}"' in response.text
        assert f'class="more" href="{escaped}"' in response.text  # the link itself
