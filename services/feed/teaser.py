"""The home-page teaser, rendered once for every reader: ``<livefeed-teaser>``.

``/v1/fragment?view=teaser&limit=&href=&section=&label=&lang=`` (embed.py) answers it: the
newest ``limit`` headlines as a compact strip with a "Live" mark, each a link to the column's
page at that headline (``<href>?at=<id>``), in a declarative shadow root with its styles
(``static/teaser.css``) and the column's words block. ``static/teaser.js`` hydrates it (served in
the one module with the column, ``MODULE_FILES``) and keeps it live over the site's one
connection; headlines that arrive later are built there from the same markup as here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from services.feed import permalink
from services.feed.column import (
    EMPTY_TEXT,
    MORE_HREF_RULE,
    STATE_TEXT,
    Assets,
    Query,
    headline_time,
    is_more_href,
    messages_text,
)
from services.feed.params import bad_query, label_param, lang_param, limit_param, section_param
from services.feed.store import Page
from shared.html import element as _el
from shared.i18n import N_, direction, gettext, negotiate
from shared.settings import Settings

DEFAULT_LIMIT = 3
MAX_LIMIT = 10
LIST_NAME = N_("Live headlines")

# ``::part()`` names, by the class each element has (docs/embed.md lists them).
PARTS = {
    "teaser": "teaser",
    "mark": "mark",
    "list": "list",
    "item": "item",
    "link": "link",
    "time": "time",
    "title": "title",
    "empty": "empty",
}


@dataclass(frozen=True)
class TeaserQuery:
    """What a teaser shows: the filters, how many and the column page its links open."""

    section: str | None
    label: str | None
    limit: int
    href: str | None = None  # None: the feed's own page
    lang: str | None = None

    @classmethod
    def parse(cls, request: Request) -> TeaserQuery:
        """From ``?section=&label=&lang=&limit=&href=`` (400 on a bad one, naming it)."""
        query = request.query_params
        href = query.get("href") or None
        if href is not None and not is_more_href(href):
            raise bad_query("href", MORE_HREF_RULE)
        return cls(
            section_param(query),
            label_param(query),
            limit_param(query, DEFAULT_LIMIT, MAX_LIMIT),
            href,
            lang_param(query),
        )

    @property
    def column(self) -> Query:
        """The same filters as a column's query (what the timeline is read with)."""
        return Query(self.section, self.label, self.limit, lang=self.lang)

    @property
    def key(self) -> tuple[Hashable, ...]:
        """The view-cache key: ``href`` (free text) only as a short digest."""
        return (self.section, self.label, self.limit, permalink.key(self.href), self.lang)


def page_href(settings: Settings, query: TeaserQuery) -> str:
    """Where the teaser leads: ``href``, else the feed's own page with the same filters."""
    return query.href or permalink.page_base(settings, query.column)


def render_item(
    parent: ET.Element, item: dict[str, Any], href: str, zone_name: str, lang: str
) -> None:
    """One headline: a link to the column page at it, its time and title (teaser.js ``item``)."""
    li = _el(parent, "li", class_="item", data_id=item["id"], data_published=item["published_at"])
    link = _el(li, "a", class_="link", href=permalink.href(href, item["id"]))
    headline_time(link, item["published_at"], "time", zone_name, lang).tail = " "
    _el(link, "span", item["title"], class_="title", dir="auto")


def render_teaser(settings: Settings, assets: Assets, page: Page, query: TeaserQuery) -> ET.Element:
    """``<livefeed-teaser>`` with the strip in a declarative shadow root, in the edition's
    language (``query.lang``; the unfiltered teaser speaks LIVEFEED_LANGUAGE)."""
    speaks = negotiate(query.lang, settings.language)
    href = page_href(settings, query)
    attrs = {
        **query.column.filters,
        "limit": str(query.limit),
        **({"href": query.href} if query.href else {}),
        "dir": direction(speaks),
        "data-event-id": page.event_id,
        "data-push-url": assets.server["push"],
        "data-sse-url": assets.server["sse"],
        "data-timeline-url": assets.server["timeline"],
        "data-fragment-url": assets.server["fragment"],
        "data-timezone": settings.timezone,
    }
    element = ET.Element("livefeed-teaser", attrs)
    template = _el(element, "template", shadowrootmode="open")
    _el(template, "style", assets.teaser_css)
    _el(template, "script", messages_text(speaks), type="application/json",
        data_lf_messages="")  # fmt: skip
    teaser = _el(template, "div", class_="teaser", lang=speaks, dir=direction(speaks))
    # The "Live" mark leads to the column page; teaser.js puts the connection's state in it.
    mark = _el(teaser, "a", class_="mark", href=href, data_state="static")
    _el(mark, "span", class_="dot", aria_hidden="true")
    words = {f"data-{state}": gettext(speaks, text) for state, text in STATE_TEXT.items()}
    _el(mark, "span", words["data-live"], class_="mark-text").attrib.update(words)
    listing = _el(teaser, "ol", class_="list", aria_label=gettext(speaks, LIST_NAME))
    for item in page.headlines[: query.limit]:
        render_item(listing, item, href, settings.timezone, speaks)
    empty = _el(teaser, "p", gettext(speaks, EMPTY_TEXT), class_="empty")
    if page.headlines:
        empty.set("hidden", "")
    for node in template.iter():
        name = node.get("class")
        if name in PARTS:
            node.set("part", PARTS[name])
    return element


def teaser_bytes(settings: Settings, assets: Assets, page: Page, query: TeaserQuery) -> bytes:
    """The fragment as sent: one ``<livefeed-teaser>`` element, no ``<html>``."""
    html: bytes = ET.tostring(
        render_teaser(settings, assets, page, query), encoding="utf-8", method="html"
    )
    return html + b"\n"
