"""``GET /v1/articles/{id}/history``: who changed what, and when, as the apply script recorded it.

Entries come from ``lf:history:{id}`` (``shared.keys``), written in the same atomic call as the
change. They name tokens by their name only; the token itself is never stored. Served by ingest
and by feed (the same bearer tokens, ``shared.auth``), never cached.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis.asyncio as aredis
from starlette.responses import JSONResponse

from shared import keys
from shared.starlette_glue import NOT_CACHED, ProblemError


def recorded(
    raw: bytes | str, zone: ZoneInfo, optional: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A stored history entry (an article's or a live summary's) and its view: ``at`` in the
    newsroom's zone, ``by`` (the token's name), ``action``, and each ``optional`` field it has."""
    stored: dict[str, Any] = orjson.loads(raw)
    at = datetime.fromtimestamp(int(stored["at"]) / 1000, tz=UTC).astimezone(zone)
    entry: dict[str, Any] = {
        "at": at.isoformat(timespec="milliseconds"),
        "by": stored.get("by") or None,
        "action": stored["action"],
    }
    for name in optional:
        if stored.get(name):
            entry[name] = stored[name]
    return stored, entry


def history_entry(raw: bytes | str, zone: ZoneInfo) -> dict[str, Any]:
    """One stored entry as the API shows it: ``at`` in the newsroom's zone, ``version`` a number."""
    stored, entry = recorded(raw, zone, ("correction", "reason", "request_id"))
    entry["version"] = int(stored["version"]) if stored.get("version") else None
    entry["fields"] = list(stored.get("fields") or [])  # Lua's cjson writes an empty list as {}
    return entry


async def history_response(client: aredis.Redis, article_id: str, zone: ZoneInfo) -> JSONResponse:
    """Every recorded change of ``article_id``, oldest first; 404 when there is none.

    Raises ``redis.RedisError`` when Redis does not answer (each service says 503 its own way).
    """
    raw = await client.lrange(keys.history(article_id), 0, -1)
    if not raw:
        raise ProblemError(
            404,
            "no recorded change for this article (never posted, or older than the history)",
            errors=[{"field": "id", "reason": "unknown"}],
        )
    entries = [history_entry(entry, zone) for entry in raw]
    return JSONResponse({"id": article_id, "history": entries}, headers=NOT_CACHED)
