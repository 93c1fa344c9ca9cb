"""Headline opens as the newsroom reads them: one article's clicks, and the most-opened headlines.

The feed counts them (``services/feed/clicks.py``: ``POST /v1/clicks``, the column's beacon)
into ``lf:clicks:article:{id}`` (opens per epoch minute) and ``lf:clicks:minute:{m}`` (the
articles opened in one minute), both kept ``RETENTION_S`` (48 h). Nothing about the reader is
kept: the keys hold article ids, minutes and counts only.

Ingest serves them with a bearer token (like the change history):

- ``GET /v1/articles/{id}/stats?minutes=60``: ``{"id", "clicks": {"total", "per_minute":
  [{"at", "clicks"}]}, "readers_at_publication", "click_through"}``; ``total`` counts the 48 h
  kept, ``per_minute`` the last ``minutes`` (every minute, oldest first, zeros included).
- ``GET /v1/clicks/top?minutes=60&limit=10``: the live headlines opened most in the last
  ``minutes``, most first.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis.asyncio as aredis
from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse

from shared import keys
from shared.audience import HISTORY_S, MAX_MINUTES, minute_of, readers_at_publication
from shared.starlette_glue import NOT_CACHED, ProblemError, known_params

RETENTION_S = HISTORY_S  # how long opens are kept (after their minute): the audience's 48 h
MINUTE_S = 60
DEFAULT_MINUTES = 60
DEFAULT_TOP = 10
MAX_TOP = 100


def current_minute(now: float | None = None) -> int:
    """The epoch minute (Unix seconds // 60) a click at ``now`` is counted in."""
    return minute_of(time.time() if now is None else now)


def oldest_kept(minute: int) -> int:
    """The oldest epoch minute still kept when ``minute`` is the current one."""
    return minute - MAX_MINUTES + 1


def minute_at(minute: int, zone: ZoneInfo) -> str:
    """The start of an epoch minute, ISO 8601 in the newsroom's zone."""
    return datetime.fromtimestamp(minute * MINUTE_S, tz=UTC).astimezone(zone).isoformat()


def int_param(query: QueryParams, name: str, default: int, maximum: int) -> int:
    """``?name=`` as a whole number 1..``maximum`` (``default`` when absent); else 400 naming it."""
    raw = query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise ProblemError(
            400,
            f"'{name}' must be a whole number from 1 to {maximum}",
            errors=[{"field": name, "reason": f"a whole number from 1 to {maximum}"}],
        )
    return int(raw)


async def article_stats(
    client: aredis.Redis, article_id: str, minutes: int, zone: ZoneInfo
) -> dict[str, Any] | None:
    """One article's opens (None when no record of it exists: never posted and never opened).

    Raises ``redis.RedisError`` when Redis does not answer.
    """
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.clicks_article(article_id))
        pipe.exists(keys.article(article_id))
        raw, known = await pipe.execute()
    now = current_minute()
    oldest = oldest_kept(now)
    counts = {int(m): int(n) for m, n in raw.items() if int(m) >= oldest}
    if not counts and not known:
        return None
    total = sum(counts.values())
    readers = await readers_at_publication(client, article_id)
    return {
        "id": article_id,
        "clicks": {
            "total": total,
            "per_minute": [
                {"at": minute_at(m, zone), "clicks": counts.get(m, 0)}
                for m in range(now - minutes + 1, now + 1)
            ],
        },
        "readers_at_publication": readers,
        "click_through": click_through(total, readers),
    }


def click_through(opens: int, readers: int | None) -> float | None:
    """Opens over the readers connected at publication (None while that is not known, or 0);
    it can pass 1: readers who came later open the headline too."""
    return round(opens / readers, 4) if readers else None


async def totals(client: aredis.Redis, article_ids: list[str]) -> list[int]:
    """Each article's opens kept (the last 48 h), in order. Raises ``redis.RedisError``."""
    async with client.pipeline(transaction=False) as pipe:
        for article_id in article_ids:
            pipe.hgetall(keys.clicks_article(article_id))
        raws = await pipe.execute()
    oldest = oldest_kept(current_minute())
    return [sum(int(n) for m, n in raw.items() if int(m) >= oldest) for raw in raws]


async def stats_response(
    client: aredis.Redis, article_id: str, query: QueryParams, zone: ZoneInfo
) -> JSONResponse:
    """``GET /v1/articles/{id}/stats``: 404 naming ``id`` when nothing is known of it."""
    known_params(query, "minutes")
    minutes = int_param(query, "minutes", DEFAULT_MINUTES, MAX_MINUTES)
    stats = await article_stats(client, article_id, minutes, zone)
    if stats is None:
        raise ProblemError(
            404,
            "no such article (never posted, or gone with no opens in the last 48 hours)",
            errors=[{"field": "id", "reason": "unknown"}],
        )
    return JSONResponse(stats, headers=NOT_CACHED)


async def top(client: aredis.Redis, minutes: int, limit: int, zone: ZoneInfo) -> dict[str, Any]:
    """The live headlines opened most in the last ``minutes``, most first (ties: by id), at
    most ``limit``. Retracted, expired or embargoed ones are left out.

    Raises ``redis.RedisError`` when Redis does not answer.
    """
    now = current_minute()
    windows = [keys.clicks_minute(m) for m in range(now - minutes + 1, now + 1)]
    pairs = await client.zunion(windows, withscores=True)
    ranked = sorted(((int(n), _text(member)) for member, n in _scored(pairs)), key=_most_first)
    found: list[dict[str, Any]] = []
    for start in range(0, len(ranked), limit):
        chunk = ranked[start : start + limit]
        async with client.pipeline(transaction=False) as pipe:
            for _, article_id in chunk:
                pipe.hmget(keys.article(article_id), "doc", "state")
            records = await pipe.execute()
        for (clicks, article_id), (doc, state) in zip(chunk, records, strict=True):
            if doc is None or state is None or _text(state) != "live":
                continue
            headline = orjson.loads(doc)
            found.append(
                {
                    "id": article_id,
                    "title": headline.get("title"),
                    "url": headline.get("url"),
                    "section": headline.get("section"),
                    "published_at": headline.get("published_at"),
                    "clicks": clicks,
                }
            )
        if len(found) >= limit:
            break
    return {"minutes": minutes, "since": minute_at(now - minutes + 1, zone), "top": found[:limit]}


async def top_response(client: aredis.Redis, query: QueryParams, zone: ZoneInfo) -> JSONResponse:
    """``GET /v1/clicks/top?minutes=&limit=``."""
    known_params(query, "minutes", "limit")
    minutes = int_param(query, "minutes", DEFAULT_MINUTES, MAX_MINUTES)
    limit = int_param(query, "limit", DEFAULT_TOP, MAX_TOP)
    return JSONResponse(await top(client, minutes, limit, zone), headers=NOT_CACHED)


def _scored(pairs: object) -> list[tuple[bytes | str, float]]:
    """ZUNION WITHSCORES as redis-py answers it: (member, score) pairs."""
    assert isinstance(pairs, list)
    return [(member, float(score)) for member, score in pairs]


def _most_first(pair: tuple[int, str]) -> tuple[int, str]:
    return -pair[0], pair[1]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
