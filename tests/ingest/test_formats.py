"""Newsroom formats through the real ingest: ninjs 2.x/1.x, RSS 2.0, Atom, mixed batches, limits."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.helpers import Feed, Ingest, article, subscribe
from tests.procs import Stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NINJS_ID = "urn:newsml:espreso.tv:20241024:kyiv-air-defence"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


async def article_doc(feed: Feed, article_id: str) -> httpx.Response:
    return await feed.client.get(f"{feed.base}/v1/articles/{article_id}")


async def test_ninjs_2_maps_every_field(ingest: Ingest, feed: Feed) -> None:
    response = await ingest.post_raw(fixture("ninjs2_full.json"), "application/ninjs+json")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["format"] == "ninjs"
    assert body["results"] == [
        {"index": 0, "id": NINJS_ID, "status": "accepted", "job_id": body["job_id"]}
    ]
    assert [o["outcome"] for o in await ingest.wait_applied(response)] == ["published"]
    item = (await article_doc(feed, NINJS_ID)).json()
    assert item["title"] == "Air defence repels drone attack on Kyiv & region"  # main, plain
    assert item["published_at"] == "2024-10-24T16:55:00+03:00"  # firstcreated
    assert item["updated_at"] == "2024-10-24T17:20:00+03:00"  # versioncreated
    assert item["version"] == 3  # "3"
    assert item["urgency"] == 2
    assert item["breaking"] is True
    assert item["labels"] == ["breaking", "exclusive", "eyewitness-account"]  # genres
    assert item["tags"] == ["Defence", "Kyiv", "drones", "air defence"]  # subjects + keywords
    assert item["language"] == "en"
    assert item["byline"] == "Espreso Global newsroom"  # by
    assert item["summary"] == (  # the summary-role description, plain text
        "Ukrainian air defence shot down 31 of 35 Shahed drones overnight, the Air Force said."
    )
    assert item["time"] == "16:55"


async def test_ninjs_is_detected_in_plain_json(ingest: Ingest, feed: Feed) -> None:
    response = await ingest.post_raw(fixture("ninjs2_full.json"), "application/json")
    assert response.json()["format"] == "ninjs"
    await ingest.wait_applied(response)
    assert await feed.ids() == [NINJS_ID]


async def test_ninjs_1_maps_headline_byline_and_hashes_an_odd_uri(
    ingest: Ingest, feed: Feed
) -> None:
    raw = fixture("ninjs1_item.json")
    first = await ingest.post_raw(raw, "application/ninjs+json")
    result = first.json()["results"][0]
    uri = json.loads(raw)["uri"]
    assert result["source_id"] == uri
    # '?', '=' and '&' are outside the id alphabet: readable part + a hash of the whole uri.
    assert result["id"].startswith("http://ninjs.example.com/newsitems/20241024/moldova-vote")
    assert ":h" in result["id"]
    await ingest.wait_applied(first)
    item = (await article_doc(feed, result["id"])).json()
    assert (
        item["title"]
        == "$39 million transferred from Russia to bribe Moldovan voters \u2013 police"
    )
    assert item["byline"] == "Olena Kovalenko"
    assert item["summary"].startswith("Moldovan police say the money moved")
    assert item["labels"] == ["current"]
    assert item["tags"] == ["Elections", "Moldova", "bribery"]
    assert item["breaking"] is False
    # The same uri always gives the same id: posting it again changes nothing.
    again = await ingest.post_raw(raw, "application/ninjs+json")
    assert again.status_code == 200
    assert again.json()["results"][0]["id"] == result["id"]
    assert again.json()["results"][0]["status"] == "unchanged"


async def test_canceled_ninjs_retracts_and_pushes(ingest: Ingest, feed: Feed, fresh: Stack) -> None:
    await ingest.wait_applied(
        await ingest.post_raw(fixture("ninjs2_full.json"), "application/ninjs+json")
    )
    assert await feed.ids() == [NINJS_ID]
    async with subscribe(fresh.ws_url) as stream:
        await stream.next()  # hello
        response = await ingest.post_raw(fixture("ninjs2_canceled.json"), "application/json")
        assert response.json()["results"][0]["action"] == "retract"
        assert [o["outcome"] for o in await ingest.wait_applied(response)] == ["retracted"]
        frame = await stream.next()
        assert (frame["type"], frame["headline"]["id"]) == ("retracted", NINJS_ID)
    assert await feed.ids() == []
    assert (await article_doc(feed, NINJS_ID)).status_code == 404


async def test_rss_feed_one_result_per_item(ingest: Ingest, feed: Feed) -> None:
    response = await ingest.post_raw(fixture("rss_feed.xml"), "application/rss+xml")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["format"] == "rss"
    results = body["results"]
    assert len(results) == 22
    rejected = {r["index"]: r["errors"][0]["field"] for r in results if r["status"] == "rejected"}
    # no pubDate, an unreadable pubDate, and neither guid nor link
    assert rejected == {5: "items[5].pubDate", 9: "items[9].pubDate", 17: "items[17].guid"}
    assert (body["accepted"], body["rejected"]) == (19, 3)
    outcomes = await ingest.wait_applied(response)
    assert [o["outcome"] for o in outcomes] == ["published"] * 19
    ids = await feed.ids(limit=50)
    assert len(ids) == 19
    assert ids[0] == "espreso-rss-1000"  # newest pubDate first
    assert "https://global.espreso.tv/news-1012" in ids  # no guid: the link is the id
    first = (await article_doc(feed, "espreso-rss-1000")).json()
    assert first["title"] == (
        "Breaking: Explosions heard in Kyiv as air defence engages drones"
    )  # CDATA markup stripped
    assert first["url"] == "https://global.espreso.tv/news-1000"
    assert first["tags"] == ["Politics", "Ukraine"]
    assert first["summary"] == "Summary of story 0 with a link."
    assert first["language"] == "en"
    assert first["published_at"] == "2024-10-24T18:59:00+03:00"
    assert (await article_doc(feed, "espreso-rss-1001")).json()["title"] == (
        "Tanks & drones: what Ukraine needs this winter"
    )
    script = (await article_doc(feed, "espreso-rss-1002")).json()["title"]
    assert script == "Zelensky meets Scholz in Berlin"
    assert (await article_doc(feed, "espreso-rss-1019")).json()["byline"] == "Olena Kovalenko"
    # Re-posting the same feed (a poller's next run) doubles nothing.
    again = await ingest.post_raw(fixture("rss_feed.xml"), "application/rss+xml")
    assert again.status_code == 200
    statuses = [r["status"] for r in again.json()["results"]]
    assert statuses.count("unchanged") == 19
    assert statuses.count("rejected") == 3
    assert len(await feed.ids(limit=50)) == 19


async def test_atom_feed_detected_without_content_type(ingest: Ingest, feed: Feed) -> None:
    response = await ingest.client.post(
        f"{ingest.base}/v1/articles", content=fixture("atom_feed.xml"), headers=ingest.auth
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["format"] == "atom"
    assert len(body["results"]) == 21
    assert [r["errors"][0]["field"] for r in body["results"] if r["status"] == "rejected"] == [
        "entries[4].updated"
    ]
    await ingest.wait_applied(response)
    items = {
        item["url"]: item
        for day in (await feed.timeline(limit=50))["days"]
        for item in day["items"]
    }
    assert len(items) == 20
    assert items["https://global.espreso.tv/atom-2000"]["title"] == (
        "Opinion: The West must stop fearing escalation"
    )
    assert items["https://global.espreso.tv/atom-2001"]["title"] == "Kharkiv under fire again"
    assert items["https://global.espreso.tv/atom-2001"]["tags"] == ["War", "kharkiv"]
    assert items["https://global.espreso.tv/atom-2000"]["byline"] == "Espreso Global"
    assert items["https://global.espreso.tv/atom-2000"]["language"] == "uk"
    updated = items["https://global.espreso.tv/atom-2008"]
    assert (updated["published_at"], updated["updated_at"]) == (
        "2024-10-24T09:00:00+03:00",
        "2024-10-24T17:42:00+03:00",
    )
    # tag: URIs hold ',' which ids do not allow: a stable, hashed id.
    ids = [r["id"] for r in body["results"]]
    assert ids[0].startswith("tag:global.espreso.tv-2024-10-24:atom-2000:h")


async def test_mixed_batch_accepts_the_good_and_names_the_bad(ingest: Ingest, feed: Feed) -> None:
    response = await ingest.post_raw(fixture("mixed_batch.json"), "application/json")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["format"] == "mixed"
    assert [r["status"] for r in body["results"]] == [
        "accepted", "rejected", "accepted", "rejected", "rejected", "rejected",
    ]  # fmt: skip
    errors = {r["index"]: r["errors"][0]["field"] for r in body["results"] if "errors" in r}
    assert errors == {
        1: "articles[1].url",
        3: "articles[3].headlines",
        4: "articles[4].firstcreated",  # named as posted, not "published_at"
        5: "articles[5]",
    }
    await ingest.wait_applied(response)
    assert sorted(await feed.ids()) == [
        "espreso:2024-10-24:1912",
        "urn:newsml:espreso.tv:20241024:zelensky-scholz",
    ]


async def test_all_rejected_is_422_with_per_item_results(ingest: Ingest, feed: Feed) -> None:
    response = await ingest.post(
        {"articles": [article("bad-1", url="ftp://x"), {"uri": "urn:x", "headlines": []}]}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [r["status"] for r in problem["results"]] == ["rejected", "rejected"]
    assert {e["field"] for e in problem["errors"]} >= {"articles[0].url", "articles[1].headlines"}
    assert await feed.ids() == []


async def test_unchanged_and_stale_are_answered_at_once(ingest: Ingest, feed: Feed) -> None:
    await ingest.apply(article("known", title="Second", version=2))
    response = await ingest.post(
        {
            "articles": [
                article("known", title="Second", version=2),
                article("known", title="First", version=1),
                article("new-one"),
            ]
        }
    )
    assert response.status_code == 202
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["unchanged", "stale", "accepted"]
    assert (body["accepted"], body["unchanged"], body["stale"]) == (1, 1, 1)
    # Only the new item was queued; the job reports its applied outcome.
    outcomes = await ingest.wait_applied(response)
    assert [(o["id"], o["outcome"]) for o in outcomes] == [("new-one", "published")]
    assert (await article_doc(feed, "known")).json()["title"] == "Second"


def rss_document(entries: int, *, pad: int = 1200) -> bytes:
    """An RSS 2.0 channel of ``entries`` items of about ``pad`` bytes each."""
    items = "".join(
        f"<item><title>Story {i} &amp; its &lt;b&gt;follow-up&lt;/b&gt;</title>"
        f"<link>https://example.com/story/{i}</link><guid>bulk-{i}</guid>"
        f"<pubDate>Thu, 24 Oct 2024 {10 + i // 60:02d}:{i % 60:02d}:00 +0300</pubDate>"
        f"<category>Bulk</category><description>{'word ' * (pad // 5)}</description></item>"
        for i in range(entries)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Bulk</title><link>https://example.com/</link>{items}</channel></rss>"
    ).encode()


async def test_a_500_entry_rss_document_in_one_request(ingest: Ingest, feed: Feed) -> None:
    document = rss_document(500)
    assert 500_000 < len(document) < 1024 * 1024
    response = await ingest.post_raw(document, "application/rss+xml")
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 500
    outcomes = await ingest.wait_applied(response, timeout=30)
    assert len(outcomes) == 500
    assert {o["outcome"] for o in outcomes} == {"published"}
    body = await feed.timeline(limit=200)
    newest = body["days"][0]["items"][0]
    assert (newest["id"], newest["title"]) == ("bulk-499", "Story 499 & its follow-up")
    too_many = await ingest.post_raw(rss_document(501, pad=100), "application/rss+xml")
    assert too_many.status_code == 413
    assert too_many.json()["errors"][0]["field"] == "items"


async def test_xml_bombs_and_external_entities_are_refused(ingest: Ingest, feed: Feed) -> None:
    laughs = "".join(f'<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10}">' for n in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">{laughs}]>'
        '<rss version="2.0"><channel><item><title>&l9;</title><guid>b</guid>'
        "<pubDate>Thu, 24 Oct 2024 10:00:00 +0300</pubDate></item></channel></rss>"
    ).encode()
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<rss version="2.0"><channel><item><title>&x;</title><guid>x</guid>'
        b"<pubDate>Thu, 24 Oct 2024 10:00:00 +0300</pubDate></item></channel></rss>"
    )
    for document in (bomb, xxe):
        response = await ingest.post_raw(document, "application/rss+xml")
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == "body"
    broken = await ingest.post_raw(b"<rss version='2.0'><channel><item>", "application/rss+xml")
    assert broken.status_code == 400
    not_a_feed = await ingest.post_raw(b"<html><body>hi</body></html>", "text/xml")
    assert not_a_feed.status_code == 422
    assert await feed.ids() == []


async def test_openapi_lists_every_format(ingest: Ingest) -> None:
    spec = (await ingest.client.get(f"{ingest.base}/openapi.json")).json()
    post = spec["paths"]["/v1/articles"]["post"]
    assert set(post["requestBody"]["content"]) >= {
        "application/json",
        "application/ninjs+json",
        "application/rss+xml",
        "application/atom+xml",
    }
    assert {"200", "202", "409", "422"} <= set(post["responses"])
    assert post["parameters"][0]["name"] == "Idempotency-Key"


def ninjs_version(version: str, **changes: str) -> bytes:
    """The full ninjs fixture as another version (versioncreated moves with it)."""
    item = json.loads(fixture("ninjs2_full.json"))
    item.update(version=version, versioncreated=f"2024-10-24T17:{20 + int(version):02d}:00+03:00")
    item.update(changes)
    return json.dumps(item).encode()


async def test_a_cancel_outranks_older_copies_and_loses_to_newer(
    ingest: Ingest, feed: Feed
) -> None:
    ninjs = "application/ninjs+json"
    await ingest.wait_applied(await ingest.post_raw(ninjs_version("2"), ninjs))
    cancel = fixture("ninjs2_canceled.json")  # version 4
    assert [
        o["outcome"] for o in await ingest.wait_applied(await ingest.post_raw(cancel, ninjs))
    ] == ["retracted"]
    # Version 3, delayed on the wire, arrives after the version-4 cancel: it stays dead.
    late = await ingest.post_raw(ninjs_version("3"), ninjs)
    assert late.json()["results"][0]["status"] == "stale"
    assert await feed.ids() == []
    # A corrected version 5 brings the story back.
    back = await ingest.post_raw(ninjs_version("5"), ninjs)
    assert [o["outcome"] for o in await ingest.wait_applied(back)] == ["published"]
    assert await feed.ids() == [NINJS_ID]
    # Replaying the old version-4 cancel now changes nothing.
    replay = await ingest.post_raw(cancel, ninjs)
    assert [o["outcome"] for o in await ingest.wait_applied(replay)] == ["stale"]
    assert await feed.ids() == [NINJS_ID]


async def test_put_and_batches_take_ninjs_too(ingest: Ingest, feed: Feed) -> None:
    ninjs = {"Content-Type": "application/ninjs+json", **ingest.auth}
    url = f"{ingest.base}/v1/articles/{NINJS_ID}"
    put = await ingest.client.put(url, content=fixture("ninjs2_full.json"), headers=ninjs)
    assert [o["outcome"] for o in await ingest.wait_applied(put)] == ["published"]
    other = await ingest.client.put(
        f"{ingest.base}/v1/articles/another-id", content=fixture("ninjs2_full.json"), headers=ninjs
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "uri"
    feed_put = await ingest.client.put(
        url, content=fixture("rss_feed.xml"), headers={**ingest.auth, "Content-Type": "text/xml"}
    )
    assert feed_put.status_code == 415
    batch = {
        "articles": [
            {"uri": f"urn:batch:{n}", "headlines": [{"value": f"Batch story {n}"}],
             "firstcreated": f"2024-10-24T1{n}:00:00+03:00", "urgency": n + 1}
            for n in range(3)
        ]
    }  # fmt: skip
    response = await ingest.client.post(
        f"{ingest.base}/v1/articles", content=json.dumps(batch), headers=ninjs
    )
    assert response.json()["format"] == "ninjs"
    await ingest.wait_applied(response)
    assert await feed.ids(label="breaking") == [NINJS_ID, "urn:batch:1", "urn:batch:0"]
