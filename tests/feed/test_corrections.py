"""Corrections: kept on the item with their time, announced as ``corrected`` on every stream
(WebSocket, SSE, ``livefeed tail``), shown in the feeds; ninjs ``ednote`` is one."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime

import httpx

from tests.helpers import Feed, Ingest, article, subscribe
from tests.procs import Stack
from tests.sse import sse
from tests.test_tail import tail

NOTE_1 = "An earlier version misnamed the minister."
NOTE_2 = "The summit is on Friday, not Thursday."


async def _post_story(ingest: Ingest) -> None:
    await ingest.apply(article("c-1", title="Kyiv hosts summit", version=1, section="news"))


async def test_a_correction_is_a_corrected_frame_on_websocket_and_sse_and_kept_on_the_item(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    await _post_story(ingest)
    async with (
        subscribe(fresh.ws_url, section="news") as ws,
        sse(http, f"{fresh.url('push')}/v1/events") as events,
    ):
        assert (await ws.next())["type"] == "hello"
        assert (await events.next()).event == "hello"
        outcomes = await ingest.apply(
            article(
                "c-1",
                title="Kyiv hosts the summit",
                version=2,
                section="news",
                correction=f"<b>{NOTE_1}</b>",
            )
        )
        assert [o["outcome"] for o in outcomes] == ["corrected"]
        frame = await ws.next()
        message = await events.next()

    assert frame["type"] == "corrected"
    assert frame["correction"]["text"] == NOTE_1  # markup stripped: plain text only
    at = datetime.fromisoformat(frame["correction"]["at"])
    assert at.utcoffset() is not None
    assert frame["headline"]["title"] == "Kyiv hosts the summit"
    assert frame["headline"]["corrections"] == [frame["correction"]]
    assert message.event == "corrected"
    assert message.data == frame

    # An update without a note keeps the notes; a second note comes after the first.
    await ingest.apply(article("c-1", title="Kyiv hosts the summit", version=3, section="news"))
    await ingest.apply(
        article("c-1", title="Kyiv hosts the summit", version=4, section="news", correction=NOTE_2)
    )
    stored = (await http.get(f"{fresh.url('feed')}/v1/articles/c-1")).json()
    assert [c["text"] for c in stored["corrections"]] == [NOTE_1, NOTE_2]
    timeline = (await http.get(f"{fresh.url('feed')}/v1/timeline")).json()
    assert timeline["days"][0]["items"][0]["corrections"] == stored["corrections"]


async def test_only_the_last_ten_notes_are_kept_and_a_plain_update_is_still_updated(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    await _post_story(ingest)
    async with subscribe(fresh.ws_url) as ws:
        assert (await ws.next())["type"] == "hello"
        for version in range(2, 14):
            await ingest.apply(article("c-1", version=version, correction=f"Note {version}"))
        await ingest.apply(article("c-1", version=14, title="No note this time"))
        frames = await ws.take(13)
    assert [f["type"] for f in frames] == ["corrected"] * 12 + ["updated"]
    assert "correction" not in frames[-1]
    stored = (await http.get(f"{fresh.url('feed')}/v1/articles/c-1")).json()
    assert [c["text"] for c in stored["corrections"]] == [f"Note {v}" for v in range(4, 14)]


async def test_a_too_long_correction_is_rejected_by_name_and_nothing_is_stored(
    ingest: Ingest, feed: Feed
) -> None:
    await _post_story(ingest)
    response = await ingest.post(article("c-1", version=2, correction="x" * 501))
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["correction"]
    timeline = await feed.timeline()
    assert timeline["days"][0]["items"][0]["version"] == 1


async def test_ninjs_ednote_is_a_correction(ingest: Ingest, feed: Feed) -> None:
    ninjs = {
        "uri": "urn:newsml:example.com:c-9",
        "headlines": [{"role": "main", "value": "Summit opens"}],
        "firstcreated": "2024-10-24T16:55:00+03:00",
        "version": "1",
    }
    await ingest.apply(ninjs)
    outcomes = await ingest.apply(
        {
            **ninjs,
            "version": "2",
            "versioncreated": "2024-10-24T17:10:00+03:00",
            "ednote": "Corrects the opening time.",
        }
    )
    assert outcomes[0]["outcome"] == "corrected"
    item = (await feed.timeline())["days"][0]["items"][0]
    assert [c["text"] for c in item["corrections"]] == ["Corrects the opening time."]
    bad = await ingest.post({**ninjs, "version": "3", "ednote": ["not", "text"]})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["ednote"]


async def test_tail_prints_a_correction_with_its_note(ingest: Ingest, fresh: Stack) -> None:
    await _post_story(ingest)
    async with tail(fresh) as running:
        await ingest.apply(
            article("c-1", title="Kyiv hosts the summit", version=2, correction=NOTE_1)
        )
        line = await running.line()
    assert line.startswith("! 2024-10-24 16:55  [Corrected ")
    assert line.endswith(f"Kyiv hosts the summit (Correction: {NOTE_1})")


async def test_feeds_carry_the_correction_notes(ingest: Ingest, fresh: Stack) -> None:
    await _post_story(ingest)
    await ingest.apply(
        article(
            "c-1",
            title="Kyiv hosts the summit",
            version=2,
            summary="Leaders meet.",
            correction=NOTE_1,
        )
    )
    base = fresh.url("feed")
    async with httpx.AsyncClient(timeout=10) as http:
        rss = ET.fromstring((await http.get(f"{base}/feed.rss")).content)  # noqa: S314
        atom = ET.fromstring((await http.get(f"{base}/feed.atom")).content)  # noqa: S314
        feed = json.loads((await http.get(f"{base}/feed.json")).content)
    item = rss.find("channel/item")
    assert item is not None
    description = item.findtext("description") or ""
    assert description.startswith("Leaders meet.")
    assert f": {NOTE_1}" in description
    assert "Corrected " in description
    assert "corrected" in [c.text for c in item.findall("category")]
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert NOTE_1 in (atom.findtext("a:entry/a:summary", namespaces=ns) or "")
    entry = feed["items"][0]
    assert [c["text"] for c in entry["_livefeed"]["corrections"]] == [NOTE_1]
    assert NOTE_1 in entry["content_text"]
    # The correction moved the item's last change.
    at = datetime.fromisoformat(entry["_livefeed"]["corrections"][0]["at"])
    assert datetime.fromisoformat(entry["date_modified"]) == at
