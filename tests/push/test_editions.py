"""A reader of one edition (``?lang=uk``) over WebSocket or SSE never gets another language's
headline, and is told when an article leaves the edition (``retracted``, reason ``filter``)."""

from __future__ import annotations

import httpx

from tests.helpers import Ingest, article, subscribe
from tests.procs import Stack
from tests.sse import sse


async def test_an_edition_subscriber_gets_only_its_language(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    events = f"{fresh.url('push')}/v1/events"
    async with (
        subscribe(fresh.ws_url, lang="uk") as uk,
        subscribe(fresh.ws_url, lang="en") as en,
        subscribe(fresh.ws_url) as everything,
        sse(http, events, lang="uk-UA") as uk_sse,
    ):
        for stream in (uk, en, everything):
            assert (await stream.next())["type"] == "hello"
        assert (await uk_sse.next()).event == "hello"

        # An English article (and one without a language: LIVEFEED_LANGUAGE, en), then a
        # Ukrainian one: the uk readers' first frame is the Ukrainian one.
        await ingest.apply(article("english", language="en"))
        await ingest.apply(article("unmarked"))
        await ingest.apply(article("ukrainian", version=1, language="uk-UA", section="news"))
        assert (await uk.next())["headline"]["id"] == "ukrainian"
        assert (await uk_sse.next()).data["headline"]["id"] == "ukrainian"
        assert [(await en.next())["headline"]["id"] for _ in range(2)] == ["english", "unmarked"]
        assert [(await everything.next())["headline"]["id"] for _ in range(3)] == [
            "english",
            "unmarked",
            "ukrainian",
        ]

        # The article's language changes to English: it leaves the uk edition, enters en.
        applied = await ingest.apply(article("ukrainian", version=2, language="en", section="news"))
        left = {
            "type": "retracted",
            "event_id": applied[0]["event_id"],
            "reason": "filter",
            "headline": {"id": "ukrainian"},
        }
        assert await uk.next() == left
        assert (await uk_sse.next()).data == left
        entered = await en.next()
        assert (entered["type"], entered["headline"]["language"]) == ("updated", "en")

        # Nothing more of it for uk: the next frame is the next Ukrainian article.
        await ingest.apply(article("ukrainian", version=3, language="en", title="Again"))
        await ingest.apply(article("marker", language="uk"))
        assert (await uk.next())["headline"]["id"] == "marker"
        assert (await uk_sse.next()).data["headline"]["id"] == "marker"


async def test_a_bad_lang_is_refused_naming_lang(fresh: Stack, http: httpx.AsyncClient) -> None:
    for path in ("/v1/stream", "/v1/events"):
        response = await http.get(f"{fresh.url('push')}{path}", params={"lang": "x y"})
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["field"] == "lang"
