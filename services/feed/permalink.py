"""Permalinks: a link to any headline, ``?at=<id>``, on the page, the fragment, the iframe page,
the element (``at``) and the timeline JSON.

The column is rendered around the headline (``TimelineReader.around``): a few newer headlines
(``NEWER_ABOVE``) under a "Newer headlines" link that loads the next newer ones
(``/v1/timeline?after=``, the answer's ``newer``) until the column reaches the newest, the
headline itself (``class="item anchor"``, ``aria-current``: static/permalink.js scrolls to it and
focuses it), and a page of older ones with "More news" as usual. A headline the view does not show
(retracted, older than the window, unknown, embargoed, or outside the filters) gives the newest
column under a notice saying so (HTTP 200 for the HTML views; 404 naming ``at`` for the JSON).

Each headline's time is its permalink: ``<a class="time-link" href="<column page>?at=<id>">``.
The column page is the element's ``page-href`` (checked as ``more-href`` is), else this feed's own
live page. The item menu ("Copy link", "Share") is the client's (static/permalink.js).
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from redis.exceptions import RedisError

from services.feed.caching import Rendered, edge_headers, render
from services.feed.params import store_down
from services.feed.store import AroundPage, Cursor, Page, TimelineReader
from services.feed.timeline import timeline_body
from shared.edgekeys import view_keys
from shared.html import element as _el
from shared.i18n import N_, gettext
from shared.settings import Settings
from shared.starlette_glue import ProblemError

if TYPE_CHECKING:  # column.py imports this module
    from services.feed.column import Query

NEWER_ABOVE = 3  # newer headlines shown above the one a permalink opens at
NEWER_TEXT = N_("Newer headlines")
GONE_TEXT = N_("This headline is no longer available.")
# Why, by AroundPage.status (the JSON's problem names the same reason).
GONE_REASONS = {
    "retracted": N_("The newsroom retracted it."),
    "expired": N_("It is older than the headlines this page keeps."),
    "unknown": N_("There is no headline at this link here; it may have expired."),
}
PROBLEM_REASONS = {
    "retracted": "retracted",
    "expired": "expired: older than the window",
    "unknown": "not found (never published, expired, or not in this view)",
}


def key(value: str | None) -> bytes | None:
    """A view-cache key part for free text (``at``, ``page-href``): a short digest."""
    if value is None:
        return None
    return hashlib.blake2b(value.encode(), digest_size=16).digest()


def page_base(settings: Settings, query: Query) -> str:
    """The column page a headline's permalink opens: ``page-href``, else this feed's page with
    the column's filters."""
    if query.page_href:
        return query.page_href
    filters = query.filters
    return settings.feed_url.rstrip("/") + "/" + (f"?{urlencode(filters)}" if filters else "")


def href(base: str, article_id: str) -> str:
    """``base`` with ``at=<article_id>`` (any ``at`` it had replaced)."""
    parts = urlsplit(base)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "at"]
    return urlunsplit(parts._replace(query=urlencode([*pairs, ("at", article_id)])))


async def around(
    reader: TimelineReader,
    at: str,
    limit: int,
    section: str | None,
    label: str | None,
    lang: str | None,
) -> AroundPage:
    """The view around ``at`` (503 when the store does not answer)."""
    try:
        return await reader.around(
            at, newer=NEWER_ABOVE, limit=limit, section=section, label=label, lang=lang
        )
    except RedisError as exc:
        raise store_down() from exc


def keys_of(page: Page, section: str | None, label: str | None, lang: str | None) -> list[str]:
    """The edge keys of a view of ``page``: a permalink's anchor first (its publication, change
    or retraction purges the view, found or not), and those of the live summaries it may show."""
    anchor = [page.anchor] if isinstance(page, AroundPage) and page.anchor else []
    ids = [str(h["id"]) for h in page.headlines]
    return view_keys([*anchor, *ids], section, label, lang, summary=True)


def decorate(
    element: ET.Element, column: ET.Element, page: Page, query: Query, settings: Settings, lang: str
) -> None:
    """What permalinks add to a rendered ``<livefeed-column>`` (``render_column``'s hook): each
    time a link to its headline; around an anchor, its mark, "Newer headlines" and the
    host's ``at``/``data-newer``; a notice when the anchor is not shown."""
    base = page_base(settings, query)
    element.set("data-page-href", base)
    if query.page_href:
        element.set("page-href", query.page_href)
    for article in column.iter("article"):
        time = article.find("time")
        if time is None:
            continue
        at = list(article).index(time)
        article.remove(time)
        link = ET.Element("a", {"class": "time-link", "part": "permalink", "tabindex": "-1"})
        link.set("href", href(base, article.get("data-id", "")))
        link.append(time)
        article.insert(at, link)
    if not isinstance(page, AroundPage) or not page.anchor:
        return
    element.set("at", page.anchor)
    element.set("data-newer", page.newer.encode() if page.newer else "")
    children = list(column)
    if not page.found:
        notice = ET.Element(
            "p", {"class": "at-gone", "id": "at-gone", "part": "notice", "tabindex": "-1"}
        )
        _el(notice, "strong", gettext(lang, GONE_TEXT)).tail = " "
        _el(notice, "span", gettext(lang, GONE_REASONS.get(page.status, GONE_REASONS["unknown"])))
        column.insert(1, notice)
        return
    for article in column.iter("article"):
        if article.get("data-id") == page.anchor and "pinned-item" not in article.get("class", ""):
            article.set("class", article.get("class", "") + " anchor")
            article.set("aria-current", "true")
    if page.newer is not None:
        timeline = next(c for c in children if c.get("class") == "timeline")
        wrap = ET.Element("div", {"class": "newer-wrap"})
        _el(wrap, "a", gettext(lang, NEWER_TEXT), class_="newer", id="newer", href=base,
            part="button newer")  # fmt: skip
        column.insert(children.index(timeline), wrap)


def timeline_view(
    page: AroundPage,
    settings: Settings,
    lang: str,
    section: str | None,
    label: str | None,
    edition: str | None,
) -> Rendered:
    """``/v1/timeline?at=`` or ``?after=`` as JSON: the timeline's answer with ``newer`` (and
    ``at``); 404 naming ``at`` for an anchor the view does not show."""
    if page.anchor and not page.found:
        reason = PROBLEM_REASONS.get(page.status, PROBLEM_REASONS["unknown"])
        raise ProblemError(
            404,
            f"no headline at 'at' in this view: {reason}",
            errors=[{"field": "at", "reason": reason}],
        )
    body: dict[str, Any] = timeline_body(page, settings.zone, lang)
    body["newer"] = page.newer.encode() if page.newer else None
    if page.anchor:
        body["at"] = page.anchor
    return render(
        orjson.dumps(body),
        "application/json",
        max_age=settings.cache_max_age,
        headers=edge_headers(keys_of(page, section, label, edition), settings.edge_max_age),
        expires_ms=page.ages_out_ms,
    )


def timeline_key(
    limit: int,
    at: str | None,
    after: Cursor | None,
    section: str | None,
    label: str | None,
    lang: str | None,
) -> tuple[Hashable, ...]:
    """The view-cache key of a timeline read ``at`` an id or ``after`` a cursor."""
    return ("timeline-around", limit, section, label, lang, key(at), after)
