"""RSS 2.0, Atom 1.0 and JSON Feed 1.1: they parse, filter, mark breaking news and revalidate."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime

import feedparser
import httpx

from tests.feed.test_timeline import seed_articles
from tests.helpers import Feed, Ingest, article, eventually

ATOM = "{http://www.w3.org/2005/Atom}"


def etree(document: bytes) -> ET.Element:
    """The standard library's parser, as any consumer would use it (our own output)."""
    return ET.fromstring(document)  # noqa: S314


async def test_seed_feeds_parse_with_feedparser_and_etree(ingest: Ingest, feed: Feed) -> None:
    await ingest.apply({"articles": seed_articles()})
    expected = [(a["title"], a["url"]) for a in seed_articles()]

    rss = await feed.client.get(f"{feed.base}/feed.rss")
    assert rss.headers["content-type"].startswith("application/rss+xml")
    parsed = feedparser.parse(rss.content)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "rss20"
    assert [(e.title, e.link) for e in parsed.entries] == expected
    assert parsed.entries[1].tags[0].term == "opinion"
    channel = etree(rss.content).find("channel")
    assert channel is not None
    items = channel.findall("item")
    assert len(items) == 40
    assert items[0].findtext("guid") == "espreso:2024-10-24:1931"
    assert items[0].findtext("pubDate") == "Thu, 24 Oct 2024 19:31:00 +0300"

    atom = await feed.client.get(f"{feed.base}/feed.atom")
    assert atom.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(atom.content)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10"
    assert [(e.title, e.link) for e in parsed.entries] == expected
    root = etree(atom.content)
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 40
    category = entries[2].find(f"{ATOM}category")
    assert category is not None
    assert (category.get("term"), category.get("label")) == ("exclusive", "Exclusive")

    json_feed = await feed.client.get(f"{feed.base}/feed.json")
    assert json_feed.headers["content-type"].startswith("application/feed+json")
    body = json_feed.json()
    assert body["version"] == "https://jsonfeed.org/version/1.1"
    assert [(i["title"], i["url"]) for i in body["items"]] == expected
    assert body["items"][0]["date_published"] == "2024-10-24T19:31:00+03:00"
    assert body["feed_url"].endswith("/feed.json")


async def test_titles_with_markup_characters_survive_as_text(ingest: Ingest, feed: Feed) -> None:
    # Entities are decoded once at ingest: the stored title holds a literal "<b>" and "&".
    await ingest.apply(article("esc", title="AT&amp;T &lt;b&gt;beats&lt;/b&gt; forecasts & more"))
    stored = (await feed.timeline())["days"][0]["items"][0]["title"]
    assert stored == "AT&T <b>beats</b> forecasts & more"
    rss = await feed.client.get(f"{feed.base}/feed.rss")
    assert b"<b>" not in rss.content  # escaped by the serializer, never raw markup
    assert etree(rss.content).findtext("channel/item/title") == stored
    atom = await feed.client.get(f"{feed.base}/feed.atom")
    assert b"<b>" not in atom.content
    assert etree(atom.content).findtext(f"{ATOM}entry/{ATOM}title") == stored
    # Atom says type="text", so even a feed reader that renders HTML shows the characters.
    assert feedparser.parse(atom.content).entries[0].title == stored
    assert (await feed.client.get(f"{feed.base}/feed.json")).json()["items"][0]["title"] == stored


async def test_feeds_filter_by_section_and_label(ingest: Ingest, feed: Feed) -> None:
    await ingest.apply(
        {
            "articles": [
                article("w-1", section="world"),
                article("s-1", section="sport", labels=["Exclusive"]),
                article("w-2", section="world", labels=["exclusive"]),
            ]
        }
    )
    world = feedparser.parse((await feed.client.get(f"{feed.base}/feed.rss?section=world")).content)
    assert sorted(e.id for e in world.entries) == ["w-1", "w-2"]
    assert "section world" in world.feed.title
    exclusive = (await feed.client.get(f"{feed.base}/feed.json?label=Exclusive")).json()
    assert sorted(i["id"] for i in exclusive["items"]) == ["s-1", "w-2"]
    both = feedparser.parse(
        (await feed.client.get(f"{feed.base}/feed.atom?section=world&label=exclusive")).content
    )
    assert [e.title for e in both.entries] == ["Headline w-2"]
    bad = await feed.client.get(f"{feed.base}/feed.rss?label=no spaces")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "label"


async def test_breaking_news_is_marked_in_every_feed(ingest: Ingest, feed: Feed) -> None:
    await ingest.apply({"articles": [article("calm", urgency=5), article("alarm", urgency=1)]})
    rss = feedparser.parse((await feed.client.get(f"{feed.base}/feed.rss")).content)
    tags = {e.id: [t.term for t in e.get("tags", [])] for e in rss.entries}
    assert "breaking" in tags["alarm"]
    assert "breaking" not in tags["calm"]
    atom = etree((await feed.client.get(f"{feed.base}/feed.atom")).content)
    labels = [
        c.get("label")
        for e in atom.findall(f"{ATOM}entry")
        for c in e.findall(f"{ATOM}category")
        if e.findtext(f"{ATOM}id", "").endswith("alarm")
    ]
    assert "Breaking" in labels
    items = {i["id"]: i for i in (await feed.client.get(f"{feed.base}/feed.json")).json()["items"]}
    assert items["alarm"]["_livefeed"]["breaking"] is True
    assert "breaking" in items["alarm"]["tags"]
    assert items["calm"]["_livefeed"]["breaking"] is False


async def test_etag_and_last_modified_answer_304_and_change_on_update(
    ingest: Ingest, feed: Feed, http: httpx.AsyncClient
) -> None:
    await ingest.apply(article("e-1", title="Before", version=1))
    for path in ("/feed.rss", "/feed.atom", "/feed.json", "/v1/timeline"):
        first = await http.get(f"{feed.base}{path}")
        etag = first.headers["etag"]
        assert "max-age=" in first.headers["cache-control"]
        again = await http.get(f"{feed.base}{path}", headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.content == b""
        assert again.headers["etag"] == etag
        weak = await http.get(f"{feed.base}{path}", headers={"If-None-Match": f'"x", W/{etag}'})
        assert weak.status_code == 304

    async def dated() -> httpx.Response | None:  # none while the last change is under 1 s old
        response = await http.get(f"{feed.base}/feed.rss")
        return response if "last-modified" in response.headers else None

    rss = await eventually(dated, 5, "a Last-Modified")
    last_modified = rss.headers["last-modified"]
    assert parsedate_to_datetime(last_modified).tzinfo is not None
    cached = await http.get(f"{feed.base}/feed.rss", headers={"If-Modified-Since": last_modified})
    assert cached.status_code == 304

    await ingest.apply(article("e-1", title="After", version=2))
    changed = await http.get(
        f"{feed.base}/feed.rss", headers={"If-None-Match": rss.headers["etag"]}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != rss.headers["etag"]
    assert feedparser.parse(changed.content).entries[0].title == "After"

    response = await http.delete(f"{ingest.base}/v1/articles/e-1", headers=ingest.auth)
    await ingest.wait_applied(response)
    gone = await http.get(
        f"{feed.base}/feed.json", headers={"If-None-Match": changed.headers["etag"]}
    )
    assert gone.status_code == 200
    assert gone.json()["items"] == []
