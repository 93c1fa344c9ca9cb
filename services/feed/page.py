"""``GET /``: the live page, its first page of headlines rendered on the server.

The page is a host of the same ``<livefeed-column>`` every embed uses (services/feed/column.py):
its chrome (masthead, skip link, alerts button, footer, JSON-LD) around the column's declarative
shadow root, hydrated by the one module (``/embed.<hash>.js``); ``static/page.js`` adds what only
the page does (the unseen count in its title). The page reads without JavaScript ("More news"
is a plain link to the next page). The HTML is built as an element tree and serialized by
``xml.etree`` (``method="html"``), so every title, URL and label is escaped by the serializer.
Configuration reaches the scripts through ``data-`` attributes: there is no inline script (the
messages and JSON-LD blocks are data), and the Content-Security-Policy forbids any; the one
inline style it allows is the column's, by its hash.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode, urlsplit

import orjson
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from services.feed import permalink
from services.feed.caching import Rendered, edge_headers, render
from services.feed.column import Assets, Query, render_column
from services.feed.handlers import ColumnHandlers
from services.feed.jsonld import live_blog, script_text
from services.feed.params import (
    at_param,
    before_param,
    label_param,
    lang_param,
    limit_param,
    section_param,
    store_down,
)
from services.feed.store import AroundPage, Cursor, Page
from shared.client_strings import ALERT_MESSAGES
from shared.headings import column_heading
from shared.html import element as _el
from shared.i18n import N_, SUPPORTED, direction, gettext, negotiate
from shared.settings import Settings

ALERTS_BUTTON_TEXT = N_("Alert me to breaking news")
PAGE_SIZE = 40  # the seed page's column shows 40 headlines before "More news"
MAX_PAGE_SIZE = 200


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


def csp(settings: Settings, styles: str = "") -> str:
    """Scripts and styles only from this origin (and the inline styles whose hashes are in
    ``styles``: the column's shadow root); connections to it and to the push service (its
    WebSocket and its SSE stream)."""
    push_origin = connect_sources(settings)
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            f"style-src 'self'{' ' + styles if styles else ''}",
            "img-src 'self' data:",
            f"connect-src 'self' {push_origin}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(settings: Settings, styles: str = "") -> dict[str, str]:
    """Headers every HTML response of the page carries."""
    return {
        "Content-Security-Policy": csp(settings, styles),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }


def render_page(
    settings: Settings,
    assets: Assets,
    page: Page,
    *,
    section: str | None,
    label: str | None,
    limit: int,
    older: bool,
    lang: str | None = None,
) -> bytes:
    """The whole document: the page's chrome around the one ``<livefeed-column>``; ``lang``:
    the edition shown (None: every article, the interface in LIVEFEED_LANGUAGE)."""
    speaks = negotiate(lang, settings.language)
    filters = {k: v for k, v in (("section", section), ("label", label), ("lang", lang)) if v}
    suffix = f"?{urlencode(filters)}" if filters else ""
    heading = column_heading(None, section, settings.section_names, speaks)
    html = _el(None, "html", lang=speaks, dir=direction(speaks))
    head = _el(html, "head")
    _el(head, "meta", charset="utf-8")
    _el(head, "meta", name="viewport", content="width=device-width, initial-scale=1")
    _el(head, "meta", name="color-scheme", content="light dark")
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
    # The one client (the element every embed runs too), then what only the page needs.
    _el(head, "script", "", type="module", src=assets.path)
    _el(head, "script", "", type="module", src="/static/page.js")
    if settings.alerts_enabled:
        _el(head, "script", "", type="module", src="/static/alerts.js")
    page_url = settings.feed_url.rstrip("/") + "/" + suffix
    _el(head, "script", script_text(live_blog(settings, page, page_url, heading, lang)),
        type="application/ld+json")  # fmt: skip

    body = _el(html, "body")
    masthead = _el(body, "header", class_="masthead")
    # The first Tab stop (in the banner landmark): past the masthead to the headlines.
    _el(masthead, "a", gettext(speaks, "Skip to headlines"), class_="skip", href="#live")
    top = _el(masthead, "div", class_="wrap masthead-inner")
    _el(top, "a", "livefeed", class_="brand", href=f"/?lang={lang}" if lang else "/")
    _el(top, "span", gettext(speaks, "Live headlines"), class_="tagline")
    alert_button(top, settings, speaks)

    main = _el(body, "main", class_="wrap column-wrap")
    anchored = isinstance(page, AroundPage)  # a permalink (?at=): live, with the latest link
    query = Query(section, label, limit, level=1, lang=lang, page_href=f"/{suffix}")
    host = {"id": "live", "data-grow": ""}
    if older:
        # Live updates only make sense on the newest page, not on one reached by "More news".
        host["data-live"] = "false"
    column = render_column(
        settings,
        assets,
        page,
        query,
        host=host,
        more_limit=None if limit == PAGE_SIZE else limit,
        latest_href=f"/{suffix}" if older or anchored else None,
    )
    main.append(column)

    foot = _el(_el(body, "footer", class_="footer"), "div", class_="wrap")
    _el(foot, "span", gettext(speaks, "Feeds:") + " ")
    for kind, name in (("rss", "RSS"), ("atom", "Atom"), ("json", "JSON Feed")):
        _el(foot, "a", name, href=f"/feed.{kind}{suffix}").tail = " "
    document: bytes = ET.tostring(html, encoding="utf-8", method="html")
    return b"<!doctype html>\n" + document


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
            "data-words": orjson.dumps({m: gettext(lang, m) for m in ALERT_MESSAGES}).decode(),
        },
    )
    button.text = gettext(lang, ALERTS_BUTTON_TEXT)
    note = ET.SubElement(parent, "span", {"class": "alerts-note", "id": "alerts-note"})
    note.set("role", "status")
    note.text = ""


class LivePage(ColumnHandlers):
    """The ``GET /`` handler."""

    async def endpoint(self, request: Request) -> Response:
        """The live page: ``/?section=&label=&lang=&limit=&before=``, or ``&at=<id>`` around
        one headline (services/feed/permalink.py)."""
        query = request.query_params
        section, label, lang = section_param(query), label_param(query), lang_param(query)
        limit = limit_param(query, PAGE_SIZE, MAX_PAGE_SIZE)
        before = before_param(query)
        at = at_param(query)
        if at is not None:
            return await self.views().serve(
                request,
                ("page-at", limit, section, label, lang, permalink.key(at)),
                lambda: self._render(limit, None, section, label, lang, at),
            )
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
        at: str | None = None,
    ) -> Rendered:
        if at is not None:
            page: Page = await permalink.around(self.reader(), at, limit, section, label, lang)
        else:
            try:
                page = await self.reader().page(
                    limit=limit, before=before, section=section, label=label, lang=lang
                )
            except RedisError as exc:
                raise store_down() from exc
        html = render_page(
            self.settings,
            self.assets,
            page,
            section=section,
            label=label,
            limit=limit,
            older=before is not None,
            lang=lang,
        )
        keys = permalink.keys_of(page, section, label, lang)
        return render(
            html,
            "text/html; charset=utf-8",
            max_age=0,
            headers={
                **security_headers(self.settings, self.assets.style_hash),
                **edge_headers(keys, self.settings.edge_max_age),
            },
            expires_ms=page.ages_out_ms,
        )
