"""The public URLs of the feeds (``/feed.rss|atom|json`` with their filter), defined once: the
feeds advertise them as ``rel="self"`` and WebSub pings hubs with exactly the same strings."""

from __future__ import annotations

from urllib.parse import urlencode

FEED_PATHS = ("/feed.rss", "/feed.atom", "/feed.json")


def feed_url(
    base: str,
    path: str,
    section: str | None = None,
    label: str | None = None,
    lang: str | None = None,
) -> str:
    """``https://news.example/feed.rss?section=world&label=key&lang=uk`` (filters in this
    order)."""
    filters = {k: v for k, v in (("section", section), ("label", label), ("lang", lang)) if v}
    return f"{base.rstrip('/')}{path}" + (f"?{urlencode(filters)}" if filters else "")


def changed_feeds(
    base: str, sections: set[str], labels: set[str], langs: set[str] | None = None
) -> set[str]:
    """Every feed URL a change to an article shown in ``sections``/``labels``/editions
    ``langs`` touches: the unfiltered feeds, and those filtered on one section, one label or
    one edition (the feeds that advertise a hub; a feed filtered on two names none)."""
    urls: set[str] = set()
    for path in FEED_PATHS:
        urls.add(feed_url(base, path))
        urls.update(feed_url(base, path, section=s) for s in sections)
        urls.update(feed_url(base, path, label=lb) for lb in labels)
        urls.update(feed_url(base, path, lang=lg) for lg in langs or ())
    return urls
