"""The column, rendered once for every reader: ``<livefeed-column>`` and its module.

The live page (``/``), the fragment (``/v1/fragment``) and the iframe page (``/embed``) all
render the same element: a ``<livefeed-column>`` holding a declarative shadow root
(``<template shadowrootmode>``) with the column's styles (``static/column.css``), its markup
and its words (``<script type="application/json" data-lf-messages>``, from
``shared.i18n.client_messages``). One module hydrates it: ``static/core.js`` and
``static/column.js``, served as one file (``Assets``: concatenated at start-up, no build step)
under ``/embed.<hash>.js``. Items that arrive later are built by column.js from the same
markup as ``render_item`` writes here.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Hashable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from starlette.requests import Request

from services.feed.compression import STATIC_LEVEL, gzip_bytes
from services.feed.jsonld import script_text
from services.feed.params import (
    at_param,
    bad_query,
    label_param,
    lang_param,
    limit_param,
    section_param,
)
from services.feed.permalink import decorate, key
from services.feed.store import Page
from services.feed.summary_view import render_summary
from services.feed.timeline import group_by_day
from services.feed.zones import zone_note
from shared.dates import day_date, day_heading, full_date, local_time
from shared.headings import HEADING_RULE, column_heading, is_heading
from shared.html import element as _el
from shared.i18n import N_, client_messages, direction, gettext, negotiate
from shared.models import KEY_LABEL, display_label, has_space_or_control
from shared.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"
# The module as served: the core, its parts, then the elements (imports and exports dropped);
# each element after what it uses: defining it upgrades the columns already on the page.
MODULE_FILES = (
    "core.js",
    "summary.js",
    "zone.js",
    "since.js",
    "permalink.js",
    "clicks.js",
    "readers.js",
    "column.js",
    "teaser.js",
)
# The column's stylesheet (its shadow root's one <style>), concatenated.
CSS_FILES = ("column.css", "permalink.css")
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_MORE_HREF = 2048
MORE_HREF_RULE = (
    "must be an http(s) URL or a path starting with one '/' (not '//' or '/\\'), "
    f"at most {MAX_MORE_HREF} characters, without spaces or control characters"
)
EMPTY_TEXT = N_("No headlines yet. New ones appear here as they are published.")
KEY_EMPTY_TEXT = N_("No key events yet. They appear here as they are published.")
ALERTS_LINK = N_("Alert me to breaking news")
# The connection states' words, by state (column.js shows them from data-<state>).
STATE_TEXT = {
    "connecting": N_("Connecting…"),
    "live": N_("Live"),
    "reconnecting": N_("Reconnecting…"),
    "offline": N_("Offline"),
    "paused": N_("Paused"),
}
_IMPORT = re.compile(r"^import .*$", re.MULTILINE)
_EXPORT = re.compile(r"^export ", re.MULTILINE)

# ``::part()`` names, by the class the page's renderer gives each element.
PARTS = {
    "column": "column",
    "column-head": "head",
    "column-title": "title",
    "conn": "status",
    "pause": "button pause",
    "new-pill": "button new",
    "day-head": "day",
    "item": "item",
    "item-time": "time",
    "badge": "badge",
    "item-title": "link",
    "more": "button more",
    "empty": "empty",
    "key-empty": "empty",
    "alerts-link": "alerts",
}


def compact(source: str) -> str:
    """The module without its comments and indentation (no minifier, no build step).

    Safe for core.js and column.js, which keep no multi-line string: each line's leading
    spaces, each whole-line ``//`` comment and each whole-line ``/* … */`` block go (a block
    starts a line with ``/*`` and ends one with ``*/``), nothing else changes.
    """
    kept: list[str] = []
    in_block = False
    for line in (line.strip() for line in source.splitlines()):
        if in_block or line.startswith("/*"):
            in_block = not line.endswith("*/")
        elif line and not line.startswith("//"):
            kept.append(line)
    return "\n".join(kept) + "\n"


def sha256_source(text: str) -> str:
    """A CSP source for an inline ``<style>`` with this text."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def headline_time(
    parent: ET.Element, published_at: str, class_: str, zone_name: str, lang: str
) -> ET.Element:
    """A headline's ``<time>``: "16:55", its full date and zone as the tooltip (the column's and
    the teaser's; column.js and teaser.js write the same)."""
    return _el(
        parent,
        "time",
        local_time(datetime.fromisoformat(published_at), lang),
        class_=class_,
        datetime=published_at,
        title=full_time(published_at, zone_name, lang),
    )


def is_more_href(value: str) -> bool:
    """Whether ``value`` may be the column's "More news" link: an absolute http(s) URL, or a
    path on the embedding site. Not a path that a browser reads as another host: ``//host`` and
    ``/\\host`` (URL parsers treat a backslash as a slash in http(s) URLs), nor any white space
    or control character (browsers drop tabs and newlines, so ``/\t/host`` is ``//host``)."""
    if not value or len(value) > MAX_MORE_HREF or has_space_or_control(value):
        return False
    if value.startswith("/"):
        return value[1:2] not in ("/", "\\")
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.lower() in ("http", "https") and bool(urlsplit(value).netloc)


@dataclass(frozen=True)
class Query:
    """What a column shows: the filters, how many, where "More news" leads, its title, the
    title's level and the edition (``lang``: its articles only, in its language)."""

    section: str | None
    label: str | None
    limit: int
    more_href: str | None = None
    level: int = 2
    heading: str | None = None
    lang: str | None = None  # an edition (``?lang=uk``), None: every article
    at: str | None = None  # a permalink's headline (services/feed/permalink.py)
    page_href: str | None = None  # the column's page, where permalinks lead
    show_readers: bool = False  # ``?show-readers=1``: "12,431 reading now" (static/readers.js)

    @classmethod
    def parse(cls, request: Request) -> Query:
        """From ``?section=&label=&lang=&limit=&more-href=&heading-level=&heading=&at=&page-href=``
        (400 on a bad one, naming it)."""
        query = request.query_params
        more = query.get("more-href") or None
        if more is not None and not is_more_href(more):
            raise bad_query("more-href", MORE_HREF_RULE)
        page_href = query.get("page-href") or None
        if page_href is not None and not is_more_href(page_href):
            raise bad_query("page-href", MORE_HREF_RULE)
        level = query.get("heading-level", "2")
        if level not in {"1", "2", "3", "4", "5"}:
            raise bad_query("heading-level", "must be 1 to 5")
        heading = query.get("heading", "").strip() or None
        if heading is not None and not is_heading(heading):
            raise bad_query("heading", f"must be {HEADING_RULE}")
        readers = query.get("show-readers", "0")
        if readers not in {"0", "1", "true", "false"}:
            raise bad_query("show-readers", "must be 1 (or true) or 0 (or false)")
        return cls(
            section_param(query),
            label_param(query),
            limit_param(query, DEFAULT_LIMIT, MAX_LIMIT),
            more,
            int(level),
            heading,
            lang_param(query),
            at_param(query),
            page_href,
            readers in {"1", "true"},
        )

    def at_level(self, level: int) -> Query:
        """The same column with its title at ``level``."""
        return replace(self, level=level)

    @property
    def key(self) -> tuple[Hashable, ...]:
        """The column's view-cache key: ``more-href`` (free text) only as a short digest."""
        more = None
        if self.more_href is not None:
            more = hashlib.blake2b(self.more_href.encode(), digest_size=16).digest()
        return (
            self.section,
            self.label,
            self.limit,
            self.level,
            more,
            self.heading,
            self.lang,
            key(self.at),
            key(self.page_href),
            self.show_readers,
        )

    @property
    def filters(self) -> dict[str, str]:
        """The non-empty filters, for URLs."""
        pairs = (("section", self.section), ("label", self.label), ("lang", self.lang))
        return {k: v for k, v in pairs if v}


def bundle(names: tuple[str, ...] = MODULE_FILES) -> str:
    """The static files ``names`` as one script: each file's ``import`` lines and ``export``
    keywords (top level only) dropped, so the core and the element share one scope."""
    texts = [_EXPORT.sub("", _IMPORT.sub("", (STATIC / name).read_text())) for name in names]
    return "\n".join(texts)


def full_time(published_at: str, zone_name: str, lang: str = "en") -> str:
    """``Thursday 24 October 2024, 19:31 (UTC+03:00, Europe/Kyiv)``: the time's whole context,
    in ``lang`` (the catalog's CLDR pattern, shared/dates.py).

    column.js (``Words.fullTime``) builds the same text, through Intl with the same pattern,
    for headlines that arrive later.
    """
    local = datetime.fromisoformat(published_at)
    offset = local.strftime("%z")
    return f"{full_date(local, lang)} (UTC{offset[:3]}:{offset[3:]}, {zone_name})"


def _day_heading(parent: ET.Element, day: dict[str, Any], lang: str) -> None:
    # "2024, Thursday" / "24 October" on two lines, as the seed page sets it (column.js:
    # Words.day writes the same from the same two patterns).
    local = datetime.fromisoformat(day["items"][0]["published_at"])
    heading = _el(parent, "h2", class_="day-head", id=f"day-{day['date']}")
    _el(heading, "span", day_heading(local, lang), class_="day-year").tail = " "
    _el(heading, "span", day_date(local, lang), class_="day-date")


def render_item(
    parent: ET.Element,
    item: dict[str, Any],
    position: int,
    zone_name: str,
    pinned_copy: bool = False,
    lang: str = "en",
) -> None:
    """One headline as ``<article>``: time, badges, linked title (column.js builds the same).

    ``pinned_copy``: in the "Pinned" list above the days (a "Pinned" badge first). One Tab
    stop per headline: its link, or the article itself when it has none (a linked article is
    still focusable from script, ``tabindex=-1``, for "N new headlines" to take the reader to
    it). Titles and notes take their own direction (``dir=auto``), whatever the column's.
    """
    title_id = f"{'pt' if pinned_copy else 't'}-{item['id']}"
    article = _el(
        parent,
        "article",
        class_="item pinned-item" if pinned_copy else "item",
        data_id=item["id"],
        data_published=item["published_at"],
        aria_labelledby=title_id,
        **({"data_key": "true"} if KEY_LABEL in (item.get("labels") or []) else {}),
        aria_posinset=str(position),
        aria_setsize="-1",
        tabindex="-1" if item.get("url") else "0",
    )
    headline_time(article, item["published_at"], "item-time", zone_name, lang)
    body = _el(article, "div", class_="item-body")
    labels = (["pinned"] if pinned_copy else []) + list(item.get("labels") or [])
    if labels:
        badges = _el(body, "span", class_="badges")
        for label in labels:
            _el(badges, "span", display_label(label, lang),
                class_=f"badge badge-{label}").tail = " "  # fmt: skip
    if item.get("url"):
        _el(body, "a", item["title"], class_="item-title", id=title_id, href=item["url"],
            dir="auto")  # fmt: skip
    else:
        _el(body, "span", item["title"], class_="item-title", id=title_id, dir="auto")
    render_corrections(body, item, zone_name, lang)


def render_corrections(
    parent: ET.Element, item: dict[str, Any], zone_name: str, lang: str = "en"
) -> None:
    """Each correction note: "Corrected 17:40" and the note as text (column.js builds the same)."""
    for note in item.get("corrections") or []:
        line = _el(parent, "p", class_="correction")
        at = str(note.get("at", ""))
        text = gettext(lang, "Corrected {time}").format(time=at[11:16])
        _el(line, "time", text, class_="correction-time", datetime=at,
            title=full_time(at, zone_name, lang) if at else "").tail = " "  # fmt: skip
        _el(line, "span", str(note.get("text", "")), class_="correction-text", dir="auto")


def render_pinned(
    parent: ET.Element,
    items: list[dict[str, Any]],
    zone_name: str,
    heading: str,
    lang: str = "en",
) -> None:
    """The "Pinned" list above the days (hidden while empty; column.js keeps it current)."""
    section = _el(parent, "section", class_="pinned", aria_labelledby="pinned-head")
    _el(section, "h" + heading[-1], gettext(lang, "Pinned"), class_="pinned-head",
        id="pinned-head")  # fmt: skip
    feed = _el(section, "div", class_="items pinned-items", role="feed",
               aria_labelledby="pinned-head", aria_busy="false")  # fmt: skip
    for position, item in enumerate(items, start=1):
        render_item(feed, item, position, zone_name, pinned_copy=True, lang=lang)
    if not items:
        section.set("hidden", "")


def empty_states(parent: ET.Element, shown: bool, lang: str = "en") -> None:
    """What an empty column says: "No headlines yet" (hidden while any headline is ``shown``;
    the clients keep it current) and, with "Key events" pressed and none among the headlines,
    "No key events yet" (shown by the stylesheet alone: ``.key-only`` and ``:has()``, so the
    clients need no logic for it). Plain paragraphs, not live regions: never announced."""
    empty = _el(parent, "p", gettext(lang, EMPTY_TEXT), class_="empty", id="empty")
    if shown:
        empty.set("hidden", "")
    _el(parent, "p", gettext(lang, KEY_EMPTY_TEXT), class_="key-empty", id="key-empty",
        hidden="")  # fmt: skip


class Assets:
    """The module and its CSS, read once; the module's hash names its immutable URL."""

    def __init__(self, settings: Settings, files: tuple[str, ...] = MODULE_FILES) -> None:
        self.css = "".join((STATIC / name).read_text() for name in CSS_FILES)
        self.teaser_css = (STATIC / "teaser.css").read_text()  # services/feed/teaser.py
        feed = settings.feed_url.rstrip("/")
        self.server = {
            "feed": feed,
            # Behind a GRIP proxy the client reads SSE, which GRIP's reliable mode keeps whole
            # (prev-id); a WebSocket there is best effort (Pushpin drops a burst it cannot
            # write at once), so the column does not open one: no WebSocket URL.
            "push": "" if settings.grip else settings.push_url.rstrip("/") + "/v1/stream",
            "sse": settings.push_http_url.rstrip("/") + "/v1/events",
            "timeline": feed + "/v1/timeline",
            "fragment": feed + "/v1/fragment",
            "zone": settings.timezone,
            "clicks": feed + "/v1/clicks" if settings.count_clicks else "",  # clicks.js
        }
        source = compact(bundle(files))
        module = source.replace("/*@server*/ null", orjson.dumps(self.server).decode(), 1)
        module = module.replace('/*@css*/ ""', orjson.dumps(self.css).decode(), 1)
        module = module.replace('/*@teaser-css*/ ""', orjson.dumps(self.teaser_css).decode(), 1)
        self.module = module.encode()
        self.hash = hashlib.sha256(self.module).hexdigest()[:12]
        self.path = f"/embed.{self.hash}.js"
        self.style_hash = sha256_source(self.css)
        self.teaser_style_hash = sha256_source(self.teaser_css)

    @property
    def gzipped_size(self) -> int:
        """Bytes of the module as served gzipped (the budget: 16 KB)."""
        return len(gzip_bytes(self.module, STATIC_LEVEL))


@functools.cache
def messages_text(lang: str) -> str:
    """The client's words as a ``<script>`` data block's text (nothing in it can close it);
    made once per interface language (``lang`` is one of ``SUPPORTED``)."""
    return script_text(client_messages(lang))


def render_column(
    settings: Settings,
    assets: Assets,
    page: Page,
    query: Query,
    *,
    host: dict[str, str] | None = None,
    more_limit: int | None = None,
    latest_href: str | None = None,
) -> ET.Element:
    """``<livefeed-column>`` with the column in a declarative shadow root.

    ``host``: more attributes for the element (the live page's ``id``, ``data-grow``,
    ``data-live``); ``more_limit``: a ``limit`` for the "More news" link; ``latest_href``: a
    "Back to the latest news" link under it. The day headings sit one level below the title.
    The column speaks the edition's language (``query.lang``; the unfiltered column speaks
    LIVEFEED_LANGUAGE): its words, its words block for the client, its dates and its ``dir``.
    The host carries ``lang`` only for an edition: column.js passes it on to the fragment,
    the timeline and the stream as ``?lang=``.
    """
    filters = query.filters
    speaks = negotiate(query.lang, settings.language)
    attrs = {
        "section": query.section or "",
        "label": query.label or "",
        "limit": str(query.limit),
        **({"lang": query.lang} if query.lang else {}),
        "dir": direction(speaks),
        "data-event-id": page.event_id,
        "data-next": page.next.encode() if page.next else "",
        "data-push-url": assets.server["push"],
        "data-sse-url": assets.server["sse"],
        "data-timeline-url": assets.server["timeline"],
        "data-fragment-url": assets.server["fragment"],
        "data-timezone": settings.timezone,
    }
    if query.more_href:
        attrs["more-href"] = query.more_href
    if query.level != 2:
        attrs["heading-level"] = str(query.level)
    if query.heading:
        attrs["heading"] = query.heading
    if query.show_readers:
        attrs["show-readers"] = ""
    element = ET.Element("livefeed-column", {**attrs, **(host or {})})
    template = _el(element, "template", shadowrootmode="open")
    _el(template, "style", assets.css)
    _el(template, "script", messages_text(speaks), type="application/json",
        data_lf_messages="")  # fmt: skip
    column = _el(template, "div", class_="column", lang=speaks, dir=direction(speaks))
    head = _el(column, "div", class_="column-head")
    title = column_heading(query.heading, query.section, settings.section_names, speaks)
    _el(head, f"h{query.level}", title, class_="column-title")
    controls = _el(head, "div", class_="controls")
    conn = _el(controls, "span", class_="conn", id="conn", data_state="static", hidden="")
    _el(conn, "span", class_="conn-dot", aria_hidden="true")
    words = {f"data-{state}": gettext(speaks, text) for state, text in STATE_TEXT.items()}
    _el(conn, "span", words["data-connecting"], class_="conn-text").attrib.update(words)
    _el(controls, "button", gettext(speaks, "Pause live updates"), type="button", class_="pause",
        id="pause", aria_pressed="false", hidden="")  # fmt: skip
    # "Key events": a client-side filter over the same stream (items labelled "key").
    _el(controls, "button", gettext(speaks, "Key events"), type="button",
        class_="pause key-toggle", id="key-events", aria_pressed="false", hidden="")  # fmt: skip
    zone_note(column, settings, speaks)  # "All times Kyiv, UTC+2" (zones.py, static/zone.js)
    render_summary(column, page.summaries, settings, speaks)  # the live summary, on top
    # Announcements only: the new-headlines count and the connection state, never a ticker.
    _el(column, "div", "", role="status", aria_live="polite", class_="visually-hidden",
        id="status")  # fmt: skip
    pill = _el(column, "div", class_="pill-wrap")
    _el(pill, "button", "", type="button", class_="new-pill", id="new-headlines", hidden="")
    render_pinned(column, page.pinned, settings.timezone, f"h{min(query.level + 1, 6)}", speaks)
    timeline = _el(column, "div", class_="timeline", id="timeline", aria_busy="false")
    # A pinned headline shows once, in the "Pinned" list (it returns to its day when unpinned).
    pinned_ids = {item["id"] for item in page.pinned}
    shown = [item for item in page.headlines if item["id"] not in pinned_ids]
    days = group_by_day(shown, settings.zone, speaks)
    position = 0
    for day in days:
        heading_id = f"day-{day['date']}"
        # Not a landmark (no name): the host's own <aside> (or <main>) is the column's
        # landmark, and two columns would otherwise repeat "2024, Thursday 24 October" regions.
        section = _el(timeline, "section", class_="day", data_date=day["date"])
        _day_heading(section, day, speaks)
        section[0].tag = f"h{min(query.level + 1, 6)}"
        items = _el(section, "div", class_="items", role="feed", aria_labelledby=heading_id,
                    aria_busy="false")  # fmt: skip
        for item in day["items"]:
            position += 1
            render_item(items, item, position, settings.timezone, lang=speaks)
    empty_states(column, bool(days or page.pinned), speaks)
    pager = _el(column, "div", class_="pager")
    more = _el(pager, "a", gettext(speaks, "More news"), class_="more")
    feed = settings.feed_url.rstrip("/")
    if query.more_href:
        more.set("href", query.more_href)
    elif page.next is not None:
        query_string = {**filters, "before": page.next.encode()}
        if more_limit is not None:
            query_string["limit"] = str(more_limit)
        more.set("href", feed + "/?" + urlencode(query_string))
    else:
        more.set("href", feed + "/")
        more.set("hidden", "")
    more.set("id", "more")
    if latest_href is not None:
        _el(pager, "a", gettext(speaks, "Back to the latest news"), class_="latest",
            href=latest_href)  # fmt: skip
    if settings.alerts_enabled:
        # Push subscriptions belong to the feed's origin: the reader subscribes on its page.
        _el(pager, "a", gettext(speaks, ALERTS_LINK), class_="alerts-link", target="_blank",
            rel="noopener", href=feed + "/alerts")  # fmt: skip
    for node in template.iter():
        for name in (node.get("class") or "").split():
            if name in PARTS:
                node.set("part", PARTS[name])
                break
    decorate(element, column, page, query, settings, speaks)
    return element


def fragment_bytes(settings: Settings, assets: Assets, page: Page, query: Query) -> bytes:
    """The fragment as sent: one ``<livefeed-column>`` element, no ``<html>``."""
    html: bytes = ET.tostring(
        render_column(settings, assets, page, query), encoding="utf-8", method="html"
    )
    return html + b"\n"
