"""Drafts and the desk's change stream (issue 25): the definitions ingest and the worker share.

A draft is kept in ``lf:draft:{id}`` (``shared.keys``), apart from the article and shown nowhere;
the apply script (services/feed/lua/apply.lua, "Drafts") writes it, and appends one record per
change to the capped stream ``lf:desk:events``: ``{"type", "id", "by", "at"}`` in its field
``data`` (``at``: ms). Versions: each draft and each article record counts its changes (``rev``);
that number is the ``version`` an ``If-Match`` names and a ``stale`` answer's ``current`` gives.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson

# The desk's stream keeps about this many records (XADD MAXLEN ~): enough for a desk that
# reconnects after a minute's outage; one that fell further behind reloads GET /v1/drafts.
DESK_EVENTS_MAXLEN = 1000

DeskEvent = Literal["draft", "published", "returned", "discarded"]
DESK_EVENT_TYPES: tuple[DeskEvent, ...] = ("draft", "published", "returned", "discarded")

# A return's note, in characters (plain text).
MAX_NOTE_CHARS = 500


def iso_ms(ms: int | float | str | bytes, zone: ZoneInfo) -> str:
    """Epoch ms as an RFC 3339 time in the newsroom's zone (as the history shows times)."""
    value = int(float(ms.decode() if isinstance(ms, bytes) else ms))
    moment = datetime.fromtimestamp(value / 1000, tz=UTC).astimezone(zone)
    return moment.isoformat(timespec="milliseconds")


def current_view(raw: Any, zone: ZoneInfo) -> dict[str, Any] | None:
    """A ``stale`` outcome's ``current`` (``{version, by, at, title}``) with ``at`` in the
    newsroom's zone; None when there is no such record."""
    if not isinstance(raw, dict):
        return None
    at = raw.get("at")
    return {
        "version": int(raw["version"]) if raw.get("version") is not None else None,
        "by": raw.get("by") or None,
        "at": iso_ms(at, zone) if at else None,
        "title": raw.get("title"),
    }


def returned_view(raw: bytes | str | None, zone: ZoneInfo) -> dict[str, Any] | None:
    """A draft's ``returned`` (``{note, by, at}``), ``at`` in the newsroom's zone."""
    if not raw:
        return None
    stored: dict[str, Any] = orjson.loads(raw)
    return {
        "note": stored.get("note"),
        "by": stored.get("by") or None,
        "at": iso_ms(stored["at"], zone),
    }
