"""Every cacheable response names what it shows, for an edge cache to keep it long and purge it
by key: Surrogate-Key / Cache-Tag, Surrogate-Control, while browsers keep short lifetimes."""

from __future__ import annotations

import pytest

from shared.edgekeys import MAX_KEYS_CHARS
from tests.helpers import Feed, Ingest, article, key_of, long_id_articles


@pytest.fixture
async def posted(ingest: Ingest) -> None:
    await ingest.apply(
        {
            "articles": [
                article("edge-1", section="news", labels=["Exclusive"]),
                article("edge-2", section="sport", published_at="2024-10-24T17:00:00+03:00"),
            ]
        }
    )


FEED = {"summary:_:_"}  # the whole feed's live summary, which every column view may show
NEWS = {"summary:news:_", *FEED}


@pytest.mark.usefixtures("posted")
@pytest.mark.parametrize(
    ("path", "shown", "filters", "summaries"),
    [
        ("/v1/timeline", {"edge-1", "edge-2"}, set(), FEED),
        (
            "/v1/timeline?section=news&label=exclusive",
            {"edge-1"},
            {"section:news", "label:exclusive"},
            NEWS,
        ),
        ("/", {"edge-1", "edge-2"}, set(), FEED),
        ("/?section=sport", {"edge-2"}, {"section:sport"}, {"summary:sport:_", *FEED}),
        ("/?lang=uk", set(), {"lang:uk"}, {"summary:_:uk", *FEED}),
        ("/feed.rss", {"edge-1", "edge-2"}, set(), set()),  # feeds never show the summary
        ("/feed.json?label=exclusive", {"edge-1"}, {"label:exclusive"}, set()),
        ("/v1/fragment?section=news", {"edge-1"}, {"section:news"}, NEWS),
        ("/embed?section=news", {"edge-1"}, {"section:news"}, NEWS),
    ],
)
async def test_timeline_views_carry_their_surrogate_keys(
    feed: Feed, path: str, shown: set[str], filters: set[str], summaries: set[str]
) -> None:
    response = await feed.client.get(f"{feed.base}{path}")
    assert response.status_code == 200, response.text[:300]
    keys = set(response.headers["surrogate-key"].split(" "))
    # `timeline` names the unfiltered views only: a change in one section purges `timeline`
    # and that section's key, and leaves another section's views cached at the edge. A view
    # with the column's summary names each scope it may show (a change to one purges them).
    everything = set() if filters else {"timeline"}
    assert keys == {*everything, *filters, *summaries, *(key_of(i) for i in shown)}
    assert set(response.headers["cache-tag"].split(",")) == keys
    control = response.headers["surrogate-control"]
    assert "max-age=3600" in control
    assert "stale-while-revalidate=" in control
    # Browsers keep the short lifetime: a retraction leaves them within seconds.
    assert "max-age=3600" not in response.headers["cache-control"]
    # A revalidation (304) keeps naming the same keys.
    again = await feed.client.get(
        f"{feed.base}{path}", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304
    assert set(again.headers["surrogate-key"].split(" ")) == keys


@pytest.mark.usefixtures("posted")
async def test_an_article_names_itself_and_its_section(feed: Feed) -> None:
    response = await feed.client.get(f"{feed.base}/v1/articles/edge-1")
    assert response.status_code == 200
    assert response.headers["surrogate-key"].split(" ") == [key_of("edge-1"), "section:news"]
    assert "max-age=3600" in response.headers["surrogate-control"]


@pytest.mark.parametrize("path", ["/?limit=200", "/v1/timeline?limit=200", "/feed.json?limit=200"])
async def test_the_heaviest_view_names_every_headline_in_small_headers(
    ingest: Ingest, feed: Feed, path: str
) -> None:
    """200 headlines with 200-character ids: 20 characters a key whatever the id, well under
    the 8 KiB a header may have at Varnish."""
    items = long_id_articles(200)
    await ingest.apply({"articles": items})
    response = await feed.client.get(f"{feed.base}{path}")
    assert response.status_code == 200
    value = response.headers["surrogate-key"]
    names = value.split(" ")
    assert names[0] == "timeline"
    coarse = ["timeline"] if path.startswith("/feed") else ["timeline", *FEED]
    assert names[: len(coarse)] == coarse
    assert sorted(names[len(coarse) :]) == sorted(key_of(item["id"]) for item in items)
    print(f"{path}: Surrogate-Key of 200 headlines {len(value)} characters")
    assert len(value) <= MAX_KEYS_CHARS
    assert len(response.headers["cache-tag"]) == len(value)
