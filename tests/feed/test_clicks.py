"""Headline opens (issue 26): ``POST /v1/clicks`` on the feed, ``/v1/articles/{id}/stats`` and
``/v1/clicks/top`` on ingest, against the session's real stack and Redis.

Beacons come from the feed's own origin (its pages), as a browser's ``Origin`` names it; client
addresses come from ``X-Forwarded-For`` (the test connects from 127.0.0.1, which uvicorn trusts
as a proxy by default, as the feed trusts the shipped nginx), one per test, so that the
per-address limit of one test never reaches another.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import redis

from services.feed.column import Assets
from shared import keys
from shared.clicks import RETENTION_S, click_through, current_minute
from shared.settings import Settings
from tests.helpers import Ingest, article, eventually
from tests.procs import Stack

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
LIMIT = 60  # LIVEFEED_CLICKS_PER_MINUTE's default


def own_origin(stack: Stack) -> str:
    return stack.url("feed")


async def beacon(
    http: httpx.AsyncClient,
    stack: Stack,
    article_id: str,
    address: str,
    *,
    origin: str | None = "own",
    agent: str | None = BROWSER,
    content_type: str = "text/plain;charset=UTF-8",
    **headers: str,
) -> httpx.Response:
    """One beacon as ``navigator.sendBeacon`` sends it (a text/plain body)."""
    sent = {"Content-Type": content_type, "X-Forwarded-For": address, **headers}
    if origin is not None:
        sent["Origin"] = own_origin(stack) if origin == "own" else origin
    if agent is not None:
        sent["User-Agent"] = agent
    client = httpx.AsyncClient(timeout=10, headers={"User-Agent": ""}) if agent is None else http
    try:
        return await client.post(
            stack.url("feed") + "/v1/clicks", content=f'{{"id": "{article_id}"}}', headers=sent
        )
    finally:
        if client is not http:
            await client.aclose()


def opens(client: redis.Redis, article_id: str) -> int:
    """Opens of ``article_id`` kept in Redis, every minute added."""
    raw: dict[bytes, bytes] = client.hgetall(keys.clicks_article(article_id))  # type: ignore[assignment]
    return sum(int(n) for n in raw.values())


def click_keys(client: redis.Redis) -> dict[str, Any]:
    """Every click key and what it holds."""
    found: dict[str, Any] = {}
    for raw in client.scan_iter(match=keys.CLICKS_PREFIX + "*", count=1000):
        name = raw.decode()
        if ":minute:" in name:
            found[name] = client.zrange(name, 0, -1, withscores=True)
        else:
            found[name] = client.hgetall(name)
    return found


async def stats(
    http: httpx.AsyncClient, stack: Stack, article_id: str, service: str = "ingest", **params: str
) -> httpx.Response:
    """``GET /v1/articles/{id}/stats`` on ingest (or, the same, on feed)."""
    return await http.get(
        f"{stack.url(service)}/v1/articles/{article_id}/stats",
        params=params,
        headers={"Authorization": f"Bearer {stack.token}"},
    )


async def test_an_open_of_a_live_headline_counts_once_in_its_minute_and_nothing_else_is_kept(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    await ingest.apply(article("c-1", url="https://news.example/c-1"))
    events = redis_client.xlen(keys.EVENTS)
    agent = BROWSER + " ReaderMarker/7.3"
    answer = await beacon(http, fresh, "c-1", "198.51.100.23", agent=agent)
    assert answer.status_code == 204, answer.text
    assert "set-cookie" not in answer.headers
    json_beacon = await beacon(http, fresh, "c-1", "198.51.100.23", content_type="application/json")
    assert json_beacon.status_code == 204
    assert opens(redis_client, "c-1") == 2
    minute = current_minute()
    # Per article per minute, kept 48 h; the minute's ranking beside it.
    per_minute = redis_client.hgetall(keys.clicks_article("c-1"))
    assert set(per_minute) <= {str(minute).encode(), str(minute + 1).encode()}
    assert RETENTION_S < redis_client.ttl(keys.clicks_article("c-1")) <= RETENTION_S + 60
    ranked = redis_client.zscore(keys.clicks_minute(minute), "c-1") or redis_client.zscore(
        keys.clicks_minute(minute + 1), "c-1"
    )
    assert ranked is not None
    # What is kept: article ids, minutes, counts. Not the address, its digest or the agent.
    digest = hashlib.sha256(b"198.51.100.23").hexdigest()[:24]
    for name, held in click_keys(redis_client).items():
        text = f"{name} {held!r}"
        for secret in ("198.51.100.23", digest, "ReaderMarker", "Mozilla"):
            assert secret not in text, (name, held)
    for raw in redis_client.scan_iter(count=1000):
        assert b"198.51.100.23" not in raw
        assert digest.encode() not in raw
    # Not in the feed's log either (the access line: method, path, status).
    log = (fresh.workdir / "feed.log").read_text(errors="replace")
    assert "POST /v1/clicks 204" in log
    assert "198.51.100.23" not in log
    assert "ReaderMarker" not in log
    # The read path is untouched: no event.
    assert redis_client.xlen(keys.EVENTS) == events

    body = (await stats(http, fresh, "c-1")).json()
    assert body["id"] == "c-1"
    assert body["clicks"]["total"] == 2
    assert len(body["clicks"]["per_minute"]) == 60
    assert sum(m["clicks"] for m in body["clicks"]["per_minute"]) == 2
    # The readers at c-1's publication as push last reported them: none here, unless a reader
    # of an earlier test on this stack is still in that report (it is kept for 3 intervals);
    # the click-through is the opens over them (tests/push/test_audience.py has readers).
    readers = body["readers_at_publication"]
    assert readers is None or readers >= 0, readers
    assert body["click_through"] == click_through(2, readers)
    # The feed answers the same (a tool that knows only its address).
    assert (await stats(http, fresh, "c-1", service="feed")).json() == body


async def test_unknown_retracted_and_embargoed_ids_change_nothing(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    await ingest.apply(article("gone-1"))
    await ingest.wait_applied(
        await http.delete(f"{fresh.url('ingest')}/v1/articles/gone-1", headers=ingest.auth)
    )
    await ingest.apply(article("later-1", embargoed_until="2099-01-01T00:00:00Z"))
    for article_id in ("never-posted", "gone-1", "later-1"):
        answer = await beacon(http, fresh, article_id, "198.51.100.30")
        assert answer.status_code == 204, answer.text
    assert click_keys(redis_client) == {}
    # The tombstone and the embargoed article are known: stats answer, with nothing.
    assert (await stats(http, fresh, "gone-1")).json()["clicks"]["total"] == 0
    assert (await stats(http, fresh, "later-1")).json()["clicks"]["total"] == 0


async def test_robots_opted_out_readers_and_other_sites_are_not_counted(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    await ingest.apply(article("c-2"))
    refused: list[dict[str, Any]] = [
        {"agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
        {"agent": BROWSER.replace("Chrome/", "HeadlessChrome/")},
        {"agent": "curl/8.5.0"},
        {"agent": "facebookexternalhit/1.1"},
        {"agent": None},
        {"origin": "http://elsewhere.example"},
        {"origin": "null"},
        {"Sec-GPC": "1"},
        {"DNT": "1"},
    ]
    for case in refused:
        answer = await beacon(http, fresh, "c-2", "198.51.100.40", **case)
        assert answer.status_code == 204, (case, answer.text)
    assert opens(redis_client, "c-2") == 0
    # The same beacon from this site's page, by a browser, counts.
    assert (await beacon(http, fresh, "c-2", "198.51.100.40")).status_code == 204
    assert opens(redis_client, "c-2") == 1
    # Without an Origin (not a browser: it could name any), the other rules decide.
    assert (await beacon(http, fresh, "c-2", "198.51.100.41", origin=None)).status_code == 204
    assert opens(redis_client, "c-2") == 2


async def test_a_thousand_beacons_from_one_address_are_capped_at_the_limit(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    await ingest.apply(article("c-3"))
    started = current_minute()
    # Two addresses of one IPv6 /64 are one reader's.
    addresses = ["2001:db8:77:1::1", "2001:db8:77:1::2"]
    for batch in range(10):
        answers = await asyncio.gather(
            *(beacon(http, fresh, "c-3", addresses[(batch + i) % 2]) for i in range(100))
        )
        assert {a.status_code for a in answers} == {204}
    windows = current_minute() - started + 1  # a minute may have turned meanwhile
    counted = opens(redis_client, "c-3")
    assert counted == LIMIT if windows == 1 else LIMIT <= counted <= windows * LIMIT, counted
    # Another address is counted still.
    assert (await beacon(http, fresh, "c-3", "2001:db8:77:2::1")).status_code == 204
    assert opens(redis_client, "c-3") == counted + 1


async def test_a_malformed_beacon_is_a_problem_naming_the_field_and_stores_nothing(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    await ingest.apply(article("c-4"))
    url = fresh.url("feed") + "/v1/clicks"
    base = {"Origin": own_origin(fresh), "User-Agent": BROWSER, "X-Forwarded-For": "198.51.100.50"}
    cases: list[tuple[bytes, str, int, str]] = [
        (b"c-4", "text/plain", 400, "body"),
        (b"", "text/plain", 400, "body"),
        (b'["c-4"]', "text/plain", 400, "id"),
        (b'{"id": 4}', "text/plain", 400, "id"),
        (b'{"article": "c-4"}', "application/json", 400, "id"),
        (b'{"id": "c 4"}', "text/plain", 400, "id"),
        (b'{"id": "' + b"x" * 201 + b'"}', "text/plain", 400, "id"),
        (b'{"id": "c-4", "pad": "' + b"x" * 1100 + b'"}', "text/plain", 413, "body"),
        (b'{"id": "\xff"}', "text/plain", 400, "body"),
        (b'{"id": "c-4"}', "application/x-www-form-urlencoded", 415, "Content-Type"),
    ]
    for body, kind, status, field in cases:
        answer = await http.post(url, content=body, headers={**base, "Content-Type": kind})
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in answer.json()["errors"]}, answer.json()
    assert click_keys(redis_client) == {}


async def test_stats_need_a_token_and_name_what_is_wrong(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    await ingest.apply(article("c-5"))
    for service in ("ingest", "feed"):
        url = f"{fresh.url(service)}/v1/articles/c-5/stats"
        assert (await http.get(url)).status_code == 401, service
        wrong = await http.get(url, headers={"Authorization": "Bearer not-a-token"})
        assert wrong.status_code == 403, service
    unknown = await stats(http, fresh, "no-such-article")
    assert unknown.status_code == 404
    assert unknown.json()["errors"] == [{"field": "id", "reason": "unknown"}]
    for bad in ("0", "2881", "ten", "-5"):
        answer = await stats(http, fresh, "c-5", minutes=bad)
        assert answer.status_code == 400
        assert answer.json()["errors"][0]["field"] == "minutes"
    typo = await stats(http, fresh, "c-5", minute="5")
    assert typo.status_code == 400
    assert typo.json()["errors"] == [{"field": "minute", "reason": "unknown parameter"}]
    week = await stats(http, fresh, "c-5", minutes="2880")
    assert week.status_code == 200
    assert len(week.json()["clicks"]["per_minute"]) == 2880
    assert week.headers["cache-control"] == "private, no-store"


async def test_top_lists_the_most_opened_live_headlines_most_first(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    opened = {"t-a": 3, "t-b": 5, "t-c": 1, "t-gone": 9}
    await ingest.apply({"articles": [article(i, url=f"https://news.example/{i}") for i in opened]})
    for n, (article_id, times) in enumerate(opened.items()):
        for _ in range(times):
            answer = await beacon(http, fresh, article_id, f"198.51.100.{60 + n}")
            assert answer.status_code == 204
    await ingest.wait_applied(
        await http.delete(f"{fresh.url('ingest')}/v1/articles/t-gone", headers=ingest.auth)
    )
    url = f"{fresh.url('ingest')}/v1/clicks/top"
    assert (await http.get(url)).status_code == 401
    body = (await http.get(url, params={"minutes": "60"}, headers=ingest.auth)).json()
    assert [(h["id"], h["clicks"]) for h in body["top"]] == [("t-b", 5), ("t-a", 3), ("t-c", 1)]
    assert body["top"][0]["title"] == "Headline t-b"
    assert body["top"][0]["url"] == "https://news.example/t-b"
    assert body["minutes"] == 60
    two = (await http.get(url, params={"limit": "2"}, headers=ingest.auth)).json()
    assert [h["id"] for h in two["top"]] == ["t-b", "t-a"]
    bad = await http.get(url, params={"limit": "0"}, headers=ingest.auth)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "limit"


async def test_opens_older_than_48_hours_are_dropped_when_the_article_is_opened_again(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    await ingest.apply(article("c-6"))
    stale = current_minute() - RETENTION_S // 60 - 5
    redis_client.hset(keys.clicks_article("c-6"), str(stale), 7)
    assert (await beacon(http, fresh, "c-6", "198.51.100.70")).status_code == 204

    async def pruned() -> bool:
        return str(stale).encode() not in redis_client.hkeys(keys.clicks_article("c-6"))

    await eventually(pruned, 2, "the stale minute dropped")
    assert opens(redis_client, "c-6") == 1
    assert (await stats(http, fresh, "c-6")).json()["clicks"]["total"] == 1


def test_a_site_that_counts_no_clicks_serves_a_module_that_sends_none() -> None:
    counting = Assets(Settings(public_feed_url="https://live.example")).module
    assert b'"clicks":"https://live.example/v1/clicks"' in counting
    off = Assets(Settings(public_feed_url="https://live.example", count_clicks=False)).module
    assert b'"clicks":""' in off
    assert b"sendBeacon" in off  # the same code, with nowhere to send (clicks.js: `!url`)
