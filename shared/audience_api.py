"""``GET /v1/audience`` (bearer, on ingest and feed) and the feed's public count, from
shared/audience.py: readers now across every push process, ``?minutes=`` of per-minute maxima,
the newest headlines with the readers connected when each was published, its opens and its
click-through (``shared.clicks``), and the most-opened headlines of the last hour: the desk's
numbers in one answer. Never cached.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from zoneinfo import ZoneInfo

import redis.asyncio as aredis
from starlette.responses import JSONResponse

from shared import audience, clicks
from shared.starlette_glue import NOT_CACHED, ProblemError, known_params

TOP_MINUTES = 60  # "the most-opened headlines of the last hour"
TOP_HEADLINES = 10
PUBLIC_MAX_AGE = 5  # the public count: browsers and edges keep it this long
_MINUTES = re.compile(r"^[0-9]{1,4}$")  # ASCII digits only
MINUTES_RULE = f"must be a whole number from 1 to {audience.MAX_MINUTES}"


def minutes_param(query: Mapping[str, str]) -> int | None:
    """``minutes``: 1 to 2880 (48 h), or None when absent; a 400 problem naming it otherwise."""
    raw = query.get("minutes")
    if raw is None:
        return None
    if not _MINUTES.match(raw) or not 1 <= int(raw) <= audience.MAX_MINUTES:
        raise ProblemError(
            400,
            f"query parameter 'minutes' {MINUTES_RULE}",
            errors=[{"field": "minutes", "reason": MINUTES_RULE}],
        )
    return int(raw)


async def audience_response(
    client: aredis.Redis, query: Mapping[str, str], zone: ZoneInfo
) -> JSONResponse:
    """The body of ``GET /v1/audience``. Raises ``redis.RedisError`` when Redis does not answer
    (each service says 503 its own way)."""
    known_params(query, "minutes")
    minutes = minutes_param(query)
    now = await audience.read(client)
    body = now.as_json()
    if minutes is not None:
        body["minutes"] = await audience.minute_maxima(client, minutes, time.time())
    headlines = await audience.recent_headlines(client)
    opened = await clicks.totals(client, [h["id"] for h in headlines])
    for headline, total in zip(headlines, opened, strict=True):
        headline["clicks"] = total
        headline["click_through"] = clicks.click_through(total, headline["readers_at_publication"])
    body["headlines"] = headlines
    body["top"] = (await clicks.top(client, TOP_MINUTES, TOP_HEADLINES, zone))["top"]
    return JSONResponse(body, headers=NOT_CACHED)


class PublicCount:
    """``GET /v1/audience/count``: ``{"readers": N}``, the total only, read from Redis at most
    once a second per process and cacheable for ``PUBLIC_MAX_AGE`` seconds (browsers, Varnish)."""

    def __init__(self) -> None:
        self._read_at = -1.0
        self._readers = 0

    async def response(self, client: aredis.Redis) -> JSONResponse:
        now = time.monotonic()
        if now - self._read_at >= 1.0:
            self._readers = (await audience.read(client)).readers
            self._read_at = now
        return JSONResponse(
            {"readers": self._readers},
            headers={
                "Cache-Control": f"public, max-age={PUBLIC_MAX_AGE}",
                "Surrogate-Control": f"max-age={PUBLIC_MAX_AGE}",
            },
        )
