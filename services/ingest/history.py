"""``GET /v1/articles/{id}/history``: who changed what, and when, as the apply script recorded it.

Entries come from ``lf:history:{id}`` (``shared.keys``), written in the same atomic call as the
change. They name tokens by their name only; the token itself is never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson


def history_entry(raw: bytes | str, zone: ZoneInfo) -> dict[str, Any]:
    """One stored entry as the API shows it: ``at`` in the newsroom's zone, ``version`` a number."""
    stored: dict[str, Any] = orjson.loads(raw)
    at = datetime.fromtimestamp(int(stored["at"]) / 1000, tz=UTC).astimezone(zone)
    entry: dict[str, Any] = {
        "at": at.isoformat(timespec="milliseconds"),
        "by": stored.get("by") or None,
        "action": stored["action"],
        "version": int(stored["version"]) if stored.get("version") else None,
        # Lua's cjson writes an empty list as {}.
        "fields": list(stored.get("fields") or []),
    }
    for name in ("correction", "reason", "request_id"):
        if stored.get(name):
            entry[name] = stored[name]
    return entry
