"""``GET /``: the live page, its first page of headlines rendered on the server.

The page reads without JavaScript ("More news" is a plain link to the next page); the module
``static/live.js`` then keeps it live over the push WebSocket, or SSE when that fails. The HTML
is built as an element tree and serialized by ``xml.etree`` (``method="html"``), so every title,
URL and label is escaped by the serializer. Configuration reaches the script through ``data-``
attributes: there is no inline script, and the Content-Security-Policy forbids any.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from services.feed.caching import Rendered, edge_headers, edge_keys, render
from services.feed.handlers import ViewHandlers
from services.feed.jsonld import live_blog, script_text
from services.feed.params import (
    before_param,
    label_param,
    lang_param,
    limit_param,
    section_param,
    store_down,
)
from services.feed.store import Cursor, Page
from services.feed.timeline import group_by_day
from shared.dates import full_date
from shared.headings import column_heading
from shared.i18n import N_, SUPPORTED, direction, gettext, negotiate
from shared.models import KEY_LABEL, LABEL_DISPLAY, display_label
from shared.settings import Settings

ALERTS_BUTTON_TEXT = N_("Alert me to breaking news")
EMPTY_TEXT = N_("No headlines yet. New ones appear here as they are published.")
KEY_EMPTY_TEXT = N_("No key events yet. They appear here as they are published.")
PAGE_SIZE = 40  # the seed page's column shows 40 headlines before "More news"
MAX_PAGE_SIZE = 200


def full_time(published_at: str, zone_name: str, lang: str = "en") -> str:
    """``Thursday 24 October 2024, 19:31 (UTC+03:00, Europe/Kyiv)``: the time's whole context
    (CLDR's names in ``lang``: shared/dates.py).

    live.js builds the same text for headlines that arrive later.
    """
    local = datetime.fromisoformat(published_at)
    offset = local.strftime("%z")
    return f"{full_date(local, lang)} (UTC{offset[:3]}:{offset[3:]}, {zone_name})"


def editions(settings: Settings) -> list[str]:
    """The editions the views link to each other (``hreflang``): every language with a
    catalog, and LIVEFEED_LANGUAGE's."""
    return list(dict.fromkeys((settings.language, *SUPPORTED)))


def edition_links(
    head: ET.Element, settings: Settings, filters: dict[str, str], path: str = "/"
) -> None:
    """``<link rel="alternate" hreflang>`` to each edition of this view, and ``x-default``
    (the unfiltered one, in LIVEFEED_LANGUAGE)."""
    base = {k: v for k, v in filters.items() if k != "lang"}
    for code in editions(settings):
        href = f"{path}?{urlencode({**base, 'lang': code})}"
        _el(head, "link", rel="alternate", hreflang=code, href=href)
    _el(head, "link", rel="alternate", hreflang="x-default",
        href=f"{path}?{urlencode(base)}" if base else path)  # fmt: skip


def connect_sources(settings: Settings) -> str:
    """The push service in ``connect-src``: its WebSocket (``ws(s)://``) and its SSE stream on
    the HTTP side (``http(s)://``, the fallback when WebSockets are blocked). A ``ws:`` source
    does not match an ``http:`` URL, so both are needed (the live page and the iframe page)."""
    push = urlsplit(settings.push_url)
    sse = urlsplit(settings.push_http_url)
    return f"{push.scheme}://{push.netloc} {sse.scheme}://{sse.netloc}"


def csp(settings: Settings) -> str:
    """Scripts and styles only from this origin; connections to it and to the push service
    (its WebSocket and its SSE stream)."""
    push_origin = connect_sources(settings)
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {push_origin}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(settings: Settings) -> dict[str, str]:
    """Headers every HTML response of the page carries."""
    return {
        "Content-Security-Policy": csp(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }


def _el(parent: ET.Element | None, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """An element (attribute names: ``class_`` → ``class``, ``data_x`` → ``data-x``)."""
    clean = {name.rstrip("_").replace("_", "-"): value for name, value in attrs.items()}
    node = ET.Element(tag, clean) if parent is None else ET.SubElement(parent, tag, clean)
    if text is not None:
        node.text = text
    return node


def _day_heading(parent: ET.Element, day: dict[str, Any]) -> None:
    # "2024, Thursday 24 October" on two lines, as the seed page sets it.
    year_weekday, _, day_month = day["label"].rpartition(" ")
    year_weekday, _, day_number = year_weekday.rpartition(" ")
    heading = _el(parent, "h2", class_="day-head", id=f"day-{day['date']}")
    _el(heading, "span", year_weekday, class_="day-year").tail = " "
    _el(heading, "span", f"{day_number} {day_month}", class_="day-date")


def render_item(
    parent: ET.Element,
    item: dict[str, Any],
    position: int,
    zone_name: str,
    pinned_copy: bool = False,
    lang: str = "en",
) -> None:
    """One headline as ``<article>``: time, badges, linked title (live.js builds the same).

    ``pinned_copy``: the copy in the "Pinned" list above the days (its own element ids, a
    "Pinned" badge first).
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
        tabindex="0",
    )
    _el(
        article,
        "time",
        item["time"],
        class_="item-time",
        datetime=item["published_at"],
        title=full_time(item["published_at"], zone_name, lang),
    )
    body = _el(article, "div", class_="item-body")
    labels = (["pinned"] if pinned_copy else []) + list(item.get("labels") or [])
    if labels:
        badges = _el(body, "span", class_="badges")
        for label in labels:
            _el(badges, "span", display_label(label, lang),
                class_=f"badge badge-{label}").tail = " "  # fmt: skip
    if item.get("url"):
        _el(body, "a", item["title"], class_="item-title", id=title_id, href=item["url"])
    else:
        _el(body, "span", item["title"], class_="item-title", id=title_id)
    render_corrections(body, item, zone_name, lang)


def render_corrections(
    parent: ET.Element, item: dict[str, Any], zone_name: str, lang: str = "en"
) -> None:
    """Each correction note: "Corrected 17:40" and the note as text (live.js builds the same)."""
    for note in item.get("corrections") or []:
        line = _el(parent, "p", class_="correction")
        at = str(note.get("at", ""))
        text = gettext(lang, "Corrected {time}").format(time=at[11:16])
        _el(line, "time", text, class_="correction-time", datetime=at,
            title=full_time(at, zone_name, lang) if at else "").tail = " "  # fmt: skip
        _el(line, "span", str(note.get("text", "")), class_="correction-text")


def render_pinned(
    parent: ET.Element,
    items: list[dict[str, Any]],
    zone_name: str,
    heading: str,
    lang: str = "en",
) -> None:
    """The "Pinned" list above the days (hidden while empty; live.js keeps it current)."""
    section = _el(parent, "section", class_="pinned", aria_labelledby="pinned-head")
    _el(section, "h" + heading[-1], gettext(lang, "Pinned"), class_="pinned-head",
        id="pinned-head")  # fmt: skip
    feed = _el(section, "div", class_="items pinned-items", role="feed",
               aria_labelledby="pinned-head", aria_busy="false")  # fmt: skip
    for position, item in enumerate(items, start=1):
        render_item(feed, item, position, zone_name, pinned_copy=True, lang=lang)
    if not items:
        section.set("hidden", "")


def render_page(
    settings: Settings,
    page: Page,
    *,
    section: str | None,
    label: str | None,
    limit: int,
    older: bool,
    lang: str | None = None,
) -> bytes:
    """The whole document; ``lang``: the edition shown (None: every article, the interface
    in LIVEFEED_LANGUAGE)."""
    speaks = negotiate(lang, settings.language)
    filters = {k: v for k, v in (("section", section), ("label", label), ("lang", lang)) if v}
    suffix = f"?{urlencode(filters)}" if filters else ""
    heading = column_heading(None, section, settings.section_names, speaks)
    html = _el(None, "html", lang=speaks, dir=direction(speaks))
    head = _el(html, "head")
    _el(head, "meta", charset="utf-8")
    _el(head, "meta", name="viewport", content="width=device-width, initial-scale=1")
    _el(head, "meta", name="color-scheme", content="light")
    _el(head, "title", f"{heading} — livefeed")
    _el(head, "link", rel="icon", href="data:,")
    _el(head, "link", rel="stylesheet", href="/static/live.css")
    for kind, media in (("rss", "rss+xml"), ("atom", "atom+xml"), ("json", "feed+json")):
        _el(
            head,
            "link",
            rel="alternate",
            type=f"application/{media}",
            href=f"/feed.{kind}{suffix}",
            title=f"{heading} ({kind.upper() if kind != 'atom' else 'Atom'})",
        )
    edition_links(head, settings, filters)
    _el(head, "script", "", type="module", src="/static/live.js")
    if settings.alerts_enabled:
        _el(head, "script", "", type="module", src="/static/alerts.js")
    page_url = settings.feed_url.rstrip("/") + "/" + suffix
    _el(head, "script", script_text(live_blog(settings, page, page_url, heading, lang)),
        type="application/ld+json")  # fmt: skip

    body = _el(html, "body")
    top = _el(_el(body, "header", class_="masthead"), "div", class_="wrap masthead-inner")
    _el(top, "a", "livefeed", class_="brand", href="/")
    _el(top, "span", gettext(speaks, "Live headlines"), class_="tagline")

    main = _el(
        body,
        "main",
        class_="wrap column",
        id="live",
        data_event_id=page.event_id,
        data_push_url=settings.push_url.rstrip("/") + "/v1/stream",
        data_sse_url=settings.push_http_url.rstrip("/") + "/v1/events",
        data_timeline_url="/v1/timeline",
        data_timezone=settings.timezone,
        # How live.js shows labels: the one map, shared.models.LABEL_DISPLAY, not a copy in JS.
        data_labels=json.dumps(LABEL_DISPLAY, separators=(",", ":")),
        data_section=section or "",
        data_label=label or "",
        data_lang=lang or "",
        data_page_size=str(limit),
        # Live updates only make sense on the newest page, not on one reached by "More news".
        data_live="false" if older else "true",
    )
    column_head = _el(main, "div", class_="column-head")
    _el(column_head, "h1", heading, class_="column-title")
    controls = _el(column_head, "div", class_="controls")
    conn = _el(controls, "span", class_="conn", id="conn", data_state="static", hidden="")
    _el(conn, "span", class_="conn-dot", aria_hidden="true")
    _el(conn, "span", gettext(speaks, "Connecting…"), class_="conn-text")
    _el(
        controls,
        "button",
        gettext(speaks, "Pause live updates"),
        type="button",
        class_="pause",
        id="pause",
        aria_pressed="false",
        hidden="",
    )
    alert_button(controls, settings, speaks)
    # "Key events": a client-side filter over the same stream (items labelled "key").
    _el(controls, "button", gettext(speaks, "Key events"), type="button", class_="pause key-toggle",
        id="key-events", aria_pressed="false", hidden="")  # fmt: skip
    # Announcements only: the new-headlines count and the connection state, never a ticker.
    _el(main, "div", "", role="status", aria_live="polite", class_="visually-hidden", id="status")
    _el(main, "button", "", type="button", class_="new-pill", id="new-headlines", hidden="")

    render_pinned(main, page.pinned, settings.timezone, "h2", speaks)
    timeline = _el(main, "div", class_="timeline", id="timeline", aria_busy="false")
    position = 0
    days = group_by_day(page.headlines, settings.zone, speaks)
    for day in days:
        heading_id = f"day-{day['date']}"
        section_el = _el(
            timeline, "section", class_="day", data_date=day["date"], aria_labelledby=heading_id
        )
        _day_heading(section_el, day)
        feed = _el(
            section_el,
            "div",
            class_="items",
            role="feed",
            aria_labelledby=heading_id,
            aria_busy="false",
        )
        for item in day["items"]:
            position += 1
            render_item(feed, item, position, settings.timezone, lang=speaks)
    empty_states(main, bool(days), speaks)
    pager = _el(main, "div", class_="pager")
    more = _el(pager, "a", gettext(speaks, "More news"), class_="more", id="more", href="#")
    if page.next is not None:
        query = {**filters, "before": page.next.encode()}
        if limit != PAGE_SIZE:
            query["limit"] = str(limit)
        more.set("href", f"/?{urlencode(query)}")
        more.set("data-next", page.next.encode())
    else:
        more.set("hidden", "")
    if older:
        _el(pager, "a", gettext(speaks, "Back to the latest news"), class_="latest",
            href=f"/{suffix}")  # fmt: skip

    foot = _el(_el(body, "footer", class_="footer"), "div", class_="wrap")
    _el(foot, "span", gettext(speaks, "Feeds:") + " ")
    for kind, name in (("rss", "RSS"), ("atom", "Atom"), ("json", "JSON Feed")):
        _el(foot, "a", name, href=f"/feed.{kind}{suffix}").tail = " "
    times_in = gettext(speaks, "Times in {zone}.").format(zone=settings.timezone)
    _el(foot, "span", times_in, class_="zone")
    document: bytes = ET.tostring(html, encoding="utf-8", method="html")
    return b"<!doctype html>\n" + document


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


def alert_button(parent: ET.Element, settings: Settings, lang: str = "en") -> None:
    """The button ``static/alerts.js`` drives (hidden until it knows the browser can push)."""
    if not settings.alerts_enabled:
        return
    button = ET.SubElement(
        parent,
        "button",
        {
            "type": "button",
            "class": "alerts",
            "id": "alerts",
            "hidden": "",
            "aria-pressed": "false",
            "data-vapid-key": settings.vapid_public_key or "",
            "data-subscriptions-url": "/v1/push-subscriptions",
            "data-worker-url": "/sw.js",
        },
    )
    button.text = gettext(lang, ALERTS_BUTTON_TEXT)
    note = ET.SubElement(parent, "span", {"class": "alerts-note", "id": "alerts-note"})
    note.set("role", "status")
    note.text = ""


class LivePage(ViewHandlers):
    """The ``GET /`` handler."""

    async def endpoint(self, request: Request) -> Response:
        """The live page: ``/?section=&label=&lang=&limit=&before=``."""
        query = request.query_params
        section, label, lang = section_param(query), label_param(query), lang_param(query)
        limit = limit_param(query, PAGE_SIZE, MAX_PAGE_SIZE)
        before = before_param(query)
        return await self.views().serve_page(
            request,
            ("page", limit, section, label, lang),
            before,
            lambda cursor: self._render(limit, cursor, section, label, lang),
        )

    async def _render(
        self,
        limit: int,
        before: Cursor | None,
        section: str | None,
        label: str | None,
        lang: str | None = None,
    ) -> Rendered:
        try:
            page = await self.reader().page(
                limit=limit, before=before, section=section, label=label, lang=lang
            )
        except RedisError as exc:
            raise store_down() from exc
        html = render_page(
            self.settings,
            page,
            section=section,
            label=label,
            limit=limit,
            older=before is not None,
            lang=lang,
        )
        keys = edge_keys(page.headlines, section, label, lang)
        return render(
            html,
            "text/html; charset=utf-8",
            max_age=0,
            headers={
                **security_headers(self.settings),
                **edge_headers(keys, self.settings.edge_max_age),
            },
            expires_ms=page.ages_out_ms,
        )
