"""Editions: ``?lang=`` shows one language's headlines, in that language's words and CLDR dates,
and the editions link each other (hreflang, inLanguage, feed languages)."""

from __future__ import annotations

import json
import re

import httpx
import pytest
import redis
from defusedxml.ElementTree import fromstring

from shared import keys
from tests.feed.test_timeline import seed_articles
from tests.helpers import Feed, Ingest, article, eventually
from tests.procs import Stack

UK = [
    article(
        "uk-1", title="Вибухи в Києві", language="uk", published_at="2024-10-24T16:40:00+03:00"
    ),
    article(
        "uk-2",
        title="Новини з фронту",
        language="uk-UA",
        labels=["opinion"],
        published_at="2024-11-01T09:05:00+02:00",
    ),
]
AR = [article("ar-1", title="أخبار عاجلة", language="ar", published_at="2024-10-24T12:00:00+03:00")]


def shown(html: str) -> str:
    """The markup without the client's words block (its keys are the English msgids)."""
    return re.sub(r"<script type=\"application/json\" data-lf-messages[^>]*>.*?</script>", "",
                  html, flags=re.S)  # fmt: skip


def ids(body: dict[str, object]) -> list[str]:
    return [i["id"] for d in body["days"] for i in d["items"]]  # type: ignore[attr-defined, index]


async def test_an_edition_shows_only_its_language_with_cldr_day_labels(
    ingest: Ingest, feed: Feed
) -> None:
    await ingest.apply({"articles": seed_articles() + UK + AR})

    uk = await feed.timeline(lang="uk", limit=100)
    assert ids(uk) == ["uk-2", "uk-1"]
    # CLDR's Ukrainian: the weekday as a name, the month in the genitive of a date.
    assert [d["label"] for d in uk["days"]] == [
        "2024, пʼятниця 1 листопада",
        "2024, четвер 24 жовтня",
    ]
    assert uk["days"][0]["items"][0]["time"] == "09:05"

    ar = await feed.timeline(lang="ar", limit=100)
    assert ids(ar) == ["ar-1"]
    assert ar["days"][0]["label"] == "2024، الخميس 24 أكتوبر"

    # Articles without a language are LIVEFEED_LANGUAGE's (en): the seed, labelled as ever.
    en = await feed.timeline(lang="en", limit=100)
    assert len(ids(en)) == 40
    assert not {"uk-1", "uk-2", "ar-1"} & set(ids(en))
    assert en["days"][0]["label"] == "2024, Thursday 24 October"
    # The unfiltered view shows every edition, in LIVEFEED_LANGUAGE.
    everything = await feed.timeline(limit=100)
    assert len(ids(everything)) == 43
    assert everything["days"][0]["label"] == "2024, Friday 1 November"


async def test_an_edition_pages_with_more_news(ingest: Ingest, feed: Feed) -> None:
    await ingest.apply({"articles": seed_articles() + UK})
    first = await feed.timeline(lang="uk", limit=1)
    second = await feed.timeline(lang="uk", limit=1, before=first["next"])
    assert (ids(first), ids(second), second["next"]) == (["uk-2"], ["uk-1"], None)


@pytest.mark.parametrize(
    "path", ["/v1/timeline", "/", "/v1/fragment", "/embed", "/feed.rss", "/feed.json"]
)
async def test_a_bad_lang_is_a_400_naming_lang(
    fresh: Stack, http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(f"{fresh.url('feed')}{path}", params={"lang": "not a language"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "lang"


async def test_the_ukrainian_page_speaks_ukrainian_and_links_its_editions(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    await ingest.apply({"articles": seed_articles() + UK})
    response = await http.get(f"{fresh.url('feed')}/", params={"lang": "uk"})
    assert response.status_code == 200
    page = shown(response.text)
    assert '<html lang="uk" dir="ltr">' in page
    assert "Більше новин" in page
    assert "More news" not in page
    assert "Вибухи в Києві" in page
    assert "Kyiv" not in page.split("<main", 1)[1].split("zone")[0]
    assert ">ДУМКА<" in page  # the label's display name
    assert 'class="day-year">2024, четвер</span>' in page
    assert 'class="day-date">24 жовтня</span>' in page
    for code in ("en", "uk", "ar"):
        assert f'<link rel="alternate" hreflang="{code}" href="/?lang={code}">' in page
    assert '<link rel="alternate" hreflang="x-default" href="/">' in page
    ld = json.loads(re.search(r'application/ld\+json">(.*?)</script>', page).group(1))  # type: ignore[union-attr]
    assert ld["inLanguage"] == "uk"
    assert {u["inLanguage"] for u in ld["liveBlogUpdate"]} == {"uk", "uk-UA"}
    # Its edge keys name the edition, so a change to a Ukrainian article purges it.
    assert "lang:uk" in response.headers["surrogate-key"].split()
    assert "timeline" not in response.headers["surrogate-key"].split()

    english = (await http.get(f"{fresh.url('feed')}/")).text
    assert '<html lang="en" dir="ltr">' in english
    assert "More news" in english
    arabic = (await http.get(f"{fresh.url('feed')}/", params={"lang": "ar"})).text
    assert '<html lang="ar" dir="rtl">' in arabic
    assert "مزيد من الأخبار" in arabic


async def test_the_fragment_and_iframe_page_speak_the_edition(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    await ingest.apply({"articles": seed_articles() + UK})
    fragment = await http.get(f"{fresh.url('feed')}/v1/fragment", params={"lang": "uk"})
    assert fragment.status_code == 200
    assert 'lang="uk"' in fragment.text
    assert "Більше новин" in fragment.text
    assert "Вибухи в Києві" in fragment.text
    assert "2024, четвер" in fragment.text
    assert "lang:uk" in fragment.headers["surrogate-key"].split()
    frame = await http.get(f"{fresh.url('feed')}/embed", params={"lang": "ar"})
    assert frame.text.startswith('<!doctype html>\n<html lang="ar" dir="rtl">')
    assert "<title>الأخبار — livefeed</title>" in frame.text


async def test_feeds_carry_their_language_translated_titles_and_edition_links(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    await ingest.apply({"articles": seed_articles() + UK})
    base = fresh.url("feed")
    rss = fromstring((await http.get(f"{base}/feed.rss", params={"lang": "uk"})).content)
    channel = rss.find("channel")
    assert channel is not None
    assert channel.findtext("language") == "uk"
    assert channel.findtext("title") == "Новини"
    assert channel.findtext("description") == "Заголовки наживо, найновіші першими"
    assert [i.findtext("guid") for i in channel.findall("item")] == ["uk-2", "uk-1"]
    atom_ns = "{http://www.w3.org/2005/Atom}"
    hreflangs = {
        link.get("hreflang"): link.get("href") for link in channel.findall(f"{atom_ns}link")
    }
    assert hreflangs["uk"].endswith("/feed.rss?lang=uk")
    assert hreflangs["en"].endswith("/feed.rss?lang=en")

    atom_response = await http.get(f"{base}/feed.atom", params={"lang": "uk", "label": "opinion"})
    atom = fromstring(atom_response.content)
    assert atom.get("{http://www.w3.org/XML/1998/namespace}lang") == "uk"
    assert atom.findtext(f"{atom_ns}title") == "Новини: мітка opinion"
    entry = atom.find(f"{atom_ns}entry")
    assert entry is not None
    category = entry.find(f"{atom_ns}category")
    assert category is not None
    assert category.get("label") == "ДУМКА"

    body = (await http.get(f"{base}/feed.json", params={"lang": "uk"})).json()
    assert (body["language"], body["title"]) == ("uk", "Новини")
    unfiltered = (await http.get(f"{base}/feed.json")).json()
    assert (unfiltered["language"], unfiltered["title"]) == ("en", "News")


async def test_a_correction_note_in_a_feed_speaks_the_edition(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    corrected = {**UK[0], "version": 2, "correction": "Уточнено кількість вибухів"}
    await ingest.apply({"articles": [{**UK[0], "version": 1}]})
    await ingest.apply(corrected)
    base = fresh.url("feed")
    body = (await http.get(f"{base}/feed.json", params={"lang": "uk"})).json()
    text = body["items"][0]["content_text"]
    assert re.fullmatch(r"Виправлено о \d\d:\d\d: Уточнено кількість вибухів", text), text  # noqa: RUF001 - Ukrainian
    unfiltered = (await http.get(f"{base}/feed.json")).json()  # every edition, in English words
    assert unfiltered["items"][0]["content_text"].startswith("Corrected ")


async def test_articles_stored_before_editions_join_the_default_edition(
    ingest: Ingest, feed: Feed, fresh: Stack, redis_client: redis.Redis
) -> None:
    await ingest.apply({"articles": [article("old-1"), article("old-2", language="uk")]})
    # As a record written before editions existed: no ``lang`` field, in no edition index.
    for article_id, edition in (("old-1", "en"), ("old-2", "uk")):
        redis_client.hdel(keys.article(article_id), "lang")
        redis_client.zrem(keys.lang(edition), article_id)
    assert ids(await feed.timeline(lang="en")) == []
    # Forget that the backfill ran: the next tick may now run it (before the flag was gone it
    # could not, so the empty edition above is no race).
    redis_client.delete(keys.EDITIONS_INDEXED)
    # The worker's next release tick (the embargo clock's, twice a second) files them under
    # LIVEFEED_LANGUAGE's edition, and the views rendered before it are stale.

    async def filed() -> bool:
        return sorted(ids(await feed.timeline(lang="en"))) == ["old-1", "old-2"]

    await eventually(filed, 10, "the old articles in the en edition")
    assert ids(await feed.timeline(lang="uk")) == []
