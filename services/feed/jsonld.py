"""The live page's schema.org ``LiveBlogPosting`` (JSON-LD), so that search engines can show the
coverage as live: when it started, when it last changed, and its newest updates as
``BlogPosting`` entries (a correction as a ``CorrectionComment``), each with its language
(``inLanguage``: the article's ``language``, else LIVEFEED_LANGUAGE).

It is a data block (``<script type="application/ld+json">``): browsers never run it, so the
page's Content-Security-Policy (``script-src 'self'``) allows it as it is. Built from the same
page of the timeline the HTML shows, so a retracted item is gone at the next render.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from services.feed.feeds import last_change
from services.feed.store import Page
from shared.events import EventId
from shared.settings import Settings

MAX_UPDATES = 50


def _link(settings: Settings, item: dict[str, Any]) -> str:
    url = item.get("url")
    return str(url) if url else f"{settings.feed_url.rstrip('/')}/v1/articles/{item['id']}"


def _update(settings: Settings, item: dict[str, Any]) -> dict[str, Any]:
    post: dict[str, Any] = {
        "@type": "BlogPosting",
        "@id": f"{settings.feed_url.rstrip('/')}/v1/articles/{item['id']}",
        "headline": item["title"],
        "url": _link(settings, item),
        "datePublished": item["published_at"],
        "dateModified": last_change(item).isoformat(),
        "inLanguage": item.get("language") or settings.language,
    }
    if item.get("corrections"):
        post["correction"] = [
            {"@type": "CorrectionComment", "text": note["text"], "datePublished": note["at"]}
            for note in item["corrections"]
        ]
    return post


def live_blog(
    settings: Settings, page: Page, page_url: str, heading: str, lang: str | None = None
) -> dict[str, Any]:
    """The ``LiveBlogPosting`` document for a page of headlines (newest first); ``lang``: the
    edition shown (None: the unfiltered page, in LIVEFEED_LANGUAGE)."""
    items = page.headlines[:MAX_UPDATES]
    zone = settings.zone
    times = [datetime.fromisoformat(i["published_at"]) for i in items]
    event_ms = EventId.parse(page.event_id).ms
    newest = max((last_change(i) for i in items), default=None)
    if event_ms:
        modified = datetime.fromtimestamp(event_ms / 1000, tz=zone).isoformat()
    elif newest is not None:
        modified = newest.isoformat()
    else:
        modified = None
    doc: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "@id": page_url,
        "url": page_url,
        "headline": heading,
        "inLanguage": lang or settings.language,
        "liveBlogUpdate": [_update(settings, item) for item in items],
    }
    if times:
        doc["coverageStartTime"] = min(times).isoformat()
        doc["datePublished"] = min(times).isoformat()
    if modified:
        doc["dateModified"] = modified
    return doc


def script_text(doc: dict[str, Any]) -> str:
    """The JSON for a ``<script>`` data block: ``<``, ``>`` and ``&`` escaped (as JSON allows)
    so that no text inside can close the element or look like markup."""
    raw = orjson.dumps(doc).decode()
    return raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
