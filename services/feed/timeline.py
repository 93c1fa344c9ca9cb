"""Grouping headlines by day in the newsroom's zone, as the seed page's "News" column does."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from shared.dates import day_key, day_label, local_time
from shared.summary import effective

if TYPE_CHECKING:
    from services.feed.store import Page


def localize(headline: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """``date``/``time``/``published_at`` in ``zone`` (a stored doc may predate a zone change)."""
    local = datetime.fromisoformat(headline["published_at"]).astimezone(zone)
    return {
        **headline,
        "published_at": local.isoformat(),
        "date": day_key(local),
        "time": local_time(local),
    }


def group_by_day(
    headlines: list[dict[str, Any]], zone: ZoneInfo, lang: str = "en"
) -> list[dict[str, Any]]:
    """Newest-first headlines → ``[{"date", "label", "items"}]``, one entry per local day, the
    label in ``lang`` (CLDR: ``2024, Thursday 24 October``, ``2024, четвер 24 жовтня``)."""
    days: list[dict[str, Any]] = []
    for headline in headlines:
        item = localize(headline, zone)
        if not days or days[-1]["date"] != item["date"]:
            local = datetime.fromisoformat(item["published_at"])
            days.append({"date": item["date"], "label": day_label(local, lang), "items": []})
        days[-1]["items"].append(item)
    return days


def timeline_body(page: Page, zone: ZoneInfo, lang: str = "en") -> dict[str, Any]:
    """``/v1/timeline``'s answer for ``page``: ``pinned``, ``days``, ``next``, ``event_id``,
    ``summary`` (the live summary the view shows, or None)."""
    return {
        "pinned": [localize(h, zone) for h in page.pinned],
        "days": group_by_day(page.headlines, zone, lang),
        "next": page.next.encode() if page.next else None,
        "event_id": page.event_id,
        "summary": effective(page.summaries),
    }
