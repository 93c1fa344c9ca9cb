"""The live column on other sites: ``/embed.js``, ``/v1/fragment``, ``/embed`` and their CORS.

- ``GET /embed.js`` redirects (short-lived) to ``/embed.<hash>.js``, the ES module that defines
  ``<livefeed-column>``; the hashed URL never changes content (``Cache-Control: immutable``).
  The module carries its CSS and the URLs it connects to (the push WebSocket, SSE, timeline,
  fragment), filled in from the settings when served: nothing is hard-coded in the file.
- ``GET /v1/fragment?section=&label=&limit=`` is the column as HTML for SSI/ESI or a CMS include:
  a ``<livefeed-column>`` holding a declarative shadow root (``<template shadowrootmode>``), so
  it is styled and isolated from the host page's CSS even without JavaScript. The element
  hydrates that markup in place; created empty, it fetches the same fragment (one request).
- ``GET /embed?section=&label=&limit=`` is a minimal page around the fragment for an iframe;
  ``frame-ancestors`` lists ``LIVEFEED_EMBED_ORIGINS``; its ``connect-src`` allows the push
  WebSocket and its SSE fallback.
- Both take ``heading`` (the column's title; ``shared.headings`` has the one rule).

CORS (``EmbedCors``): ``/v1/timeline`` and ``/v1/fragment`` answer exactly the origins in
``LIVEFEED_EMBED_ORIGINS`` (never ``*``), with ``Vary: Origin``, and a refused origin is logged
(once a minute); the module answers every origin (``*``: public code, no data), so a refused
site runs it and its console says why. The stream (WebSocket and SSE) is on the push port, whose
Origin allowlist includes the same origins.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.feed.caching import (
    Rendered,
    edge_headers,
    edge_keys,
    render,
    respond,
    static_view,
)
from services.feed.compression import STATIC_LEVEL, gzip_bytes
from services.feed.handlers import ViewHandlers
from services.feed.page import (
    _day_heading,
    connect_sources,
    empty_states,
    render_item,
    render_pinned,
)
from services.feed.params import (
    bad_query,
    label_param,
    lang_param,
    limit_param,
    section_param,
    store_down,
)
from services.feed.readcache import ReadCache
from services.feed.store import Page, TimelineReader
from services.feed.timeline import group_by_day
from shared.headings import HEADING_RULE, column_heading, is_heading
from shared.i18n import N_, direction, gettext, negotiate
from shared.models import has_space_or_control
from shared.origins import normalize_origin, origin_allowed
from shared.settings import Settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
# Paths that answer only the embed origins: the fragment and the JSON.
CORS_PATHS = re.compile(r"^/(?:v1/timeline|v1/fragment)$")
# The module answers every origin (``*``): it is public code, and a site not (yet) in
# LIVEFEED_EMBED_ORIGINS must be able to run it for the element to say why it shows nothing.
MODULE_PATHS = re.compile(r"^/embed(?:\.[0-9a-f]{12})?\.js$")
REFUSED_LOG_SECONDS = 60.0  # a refused origin is logged at most once a minute (per process)
REFUSED_LOG_MAX = 1000  # origins remembered for that; beyond, refusals go unlogged until expiry
MAX_MORE_HREF = 2048
IMMUTABLE = "public, max-age=31536000, immutable"

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


def _compact(source: str) -> str:
    """The module without its comment lines and indentation (no minifier, no build step).

    Safe for embed.js, which keeps no multi-line string: each line's leading spaces and each
    whole-line ``//`` comment go, nothing else changes.
    """
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(
        parent, tag, {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
    )
    if text is not None:
        node.text = text
    return node


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


ALERTS_LINK = N_("Alert me to breaking news")


@dataclass(frozen=True)
class Query:
    """What a column shows: the filters, how many, where "More news" leads, its title and the
    title's level."""

    section: str | None
    label: str | None
    limit: int
    more_href: str | None = None
    level: int = 2
    heading: str | None = None
    lang: str | None = None  # an edition (``?lang=uk``): its articles only, in its language

    @classmethod
    def parse(cls, request: Request) -> Query:
        """From ``?section=&label=&lang=&limit=&more-href=&heading-level=&heading=`` (400 on
        a bad one)."""
        query = request.query_params
        more = query.get("more-href") or None
        if more is not None and not is_more_href(more):
            raise bad_query(
                "more-href",
                "must be an http(s) URL or a path starting with one '/' (not '//' or '/\\'), "
                f"at most {MAX_MORE_HREF} characters, without spaces or control characters",
            )
        level = query.get("heading-level", "2")
        if level not in {"1", "2", "3", "4", "5"}:
            raise bad_query("heading-level", "must be 1 to 5")
        heading = query.get("heading", "").strip() or None
        if heading is not None and not is_heading(heading):
            raise bad_query("heading", f"must be {HEADING_RULE}")
        return cls(
            section_param(query),
            label_param(query),
            limit_param(query, DEFAULT_LIMIT, MAX_LIMIT),
            more,
            int(level),
            heading,
            lang_param(query),
        )

    @property
    def key(self) -> tuple[Hashable, ...]:
        """The column's view-cache key: ``more-href`` (free text) only as a short digest."""
        more = None
        if self.more_href is not None:
            more = hashlib.blake2b(self.more_href.encode(), digest_size=16).digest()
        return (self.section, self.label, self.limit, self.level, more, self.heading, self.lang)

    @property
    def filters(self) -> dict[str, str]:
        """The non-empty filters, for URLs."""
        pairs = (("section", self.section), ("label", self.label), ("lang", self.lang))
        return {k: v for k, v in pairs if v}


class Assets:
    """The module and its CSS, read once; the module's hash names its immutable URL."""

    def __init__(self, settings: Settings) -> None:
        self.css = (STATIC / "embed.css").read_text()
        feed = settings.feed_url.rstrip("/")
        self.server = {
            "feed": feed,
            "push": settings.push_url.rstrip("/") + "/v1/stream",
            "sse": settings.push_http_url.rstrip("/") + "/v1/events",
            "timeline": feed + "/v1/timeline",
            "fragment": feed + "/v1/fragment",
            "zone": settings.timezone,
        }
        source = _compact((STATIC / "embed.js").read_text())
        module = source.replace("/*@server*/ null", orjson.dumps(self.server).decode(), 1)
        module = module.replace('/*@css*/ ""', orjson.dumps(self.css).decode(), 1)
        self.module = module.encode()
        self.hash = hashlib.sha256(self.module).hexdigest()[:12]
        self.path = f"/embed.{self.hash}.js"
        self.style_hash = _sha256(self.css)

    @property
    def gzipped_size(self) -> int:
        """Bytes of the module as served gzipped (the budget: 12 KB)."""
        return len(gzip_bytes(self.module, STATIC_LEVEL))


def render_column(settings: Settings, assets: Assets, page: Page, query: Query) -> ET.Element:
    """``<livefeed-column>`` with the column in a declarative shadow root.

    Days and items come from the live page's renderer (``render_item``, ``_day_heading``);
    the day headings sit one level below the column's title.
    """
    filters = query.filters
    speaks = negotiate(query.lang, settings.language)
    attrs = {
        "section": query.section or "",
        "label": query.label or "",
        **({"lang": query.lang} if query.lang else {}),
        "limit": str(query.limit),
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
    host = ET.Element("livefeed-column", attrs)
    template = _el(host, "template", shadowrootmode="open")
    _el(template, "style", assets.css)
    column = _el(template, "div", class_="column", lang=speaks, dir=direction(speaks))
    head = _el(column, "div", class_="column-head")
    title = column_heading(query.heading, query.section, settings.section_names, speaks)
    _el(head, f"h{query.level}", title, class_="column-title")
    controls = _el(head, "div", class_="controls")
    conn = _el(controls, "span", class_="conn", data_state="static", hidden="")
    _el(conn, "span", class_="conn-dot", aria_hidden="true")
    _el(conn, "span", gettext(speaks, "Connecting…"), class_="conn-text")
    _el(controls, "button", gettext(speaks, "Pause live updates"), type="button", class_="pause",
        aria_pressed="false", hidden="")  # fmt: skip
    _el(controls, "button", gettext(speaks, "Key events"), type="button",
        class_="pause key-toggle",
        aria_pressed="false", hidden="")  # fmt: skip
    _el(column, "div", "", role="status", aria_live="polite", class_="visually-hidden")
    pill = _el(column, "div", class_="pill-wrap")
    _el(pill, "button", "", type="button", class_="new-pill", hidden="")
    render_pinned(column, page.pinned, settings.timezone, f"h{min(query.level + 1, 6)}", speaks)
    timeline = _el(column, "div", class_="timeline", aria_busy="false")
    days = group_by_day(page.headlines, settings.zone, speaks)
    position = 0
    for day in days:
        heading_id = f"day-{day['date']}"
        # Not a landmark (no name): the host's own <aside> is the column's landmark, and
        # two columns on a page would otherwise repeat "2024, Thursday 24 October" regions.
        section = _el(timeline, "section", class_="day", data_date=day["date"])
        _day_heading(section, day)
        section[0].tag = f"h{query.level + 1}"
        items = _el(section, "div", class_="items", role="feed", aria_labelledby=heading_id,
                    aria_busy="false")  # fmt: skip
        for item in day["items"]:
            position += 1
            render_item(items, item, position, settings.timezone, lang=speaks)
    empty_states(column, bool(days), speaks)
    pager = _el(column, "div", class_="pager")
    more = _el(pager, "a", gettext(speaks, "More news"), class_="more")
    if query.more_href:
        more.set("href", query.more_href)
    elif page.next is not None:
        more.set("href", settings.feed_url.rstrip("/") + "/?" + urlencode(
            {**filters, "before": page.next.encode()}))  # fmt: skip
    else:
        more.set("href", settings.feed_url.rstrip("/") + "/")
        more.set("hidden", "")
    if settings.alerts_enabled:
        # Push subscriptions belong to the feed's origin: the reader subscribes on its page.
        _el(pager, "a", gettext(speaks, ALERTS_LINK), class_="alerts-link", target="_blank",
            rel="noopener", href=settings.feed_url.rstrip("/") + "/alerts")  # fmt: skip
    for node in template.iter():
        for name in (node.get("class") or "").split():
            if name in PARTS:
                node.set("part", PARTS[name])
                break
    return host


def fragment_bytes(settings: Settings, assets: Assets, page: Page, query: Query) -> bytes:
    """The fragment as sent: one ``<livefeed-column>`` element, no ``<html>``."""
    html: bytes = ET.tostring(
        render_column(settings, assets, page, query), encoding="utf-8", method="html"
    )
    return html + b"\n"


# Only the body's margin: the column's own styles live in its shadow root.
FRAME_CSS = "html,body{margin:0;background:Canvas}"


def frame_csp(settings: Settings, assets: Assets) -> str:
    """The iframe page's policy: framed only by the embed origins (and this origin)."""
    ancestors = " ".join(["'self'", *sorted(settings.embeds)])
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            f"style-src {assets.style_hash} {_sha256(FRAME_CSS)}",
            "img-src 'self' data:",
            f"connect-src 'self' {connect_sources(settings)}",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {ancestors}",
        )
    )


class Embed(ViewHandlers):
    """The handlers: module, fragment, iframe page."""

    def __init__(
        self,
        settings: Settings,
        reader: Callable[[], TimelineReader],
        views: Callable[[], ReadCache],
    ) -> None:
        super().__init__(settings, reader, views)
        self.assets = Assets(settings)
        # The module, and its gzip copy, made once.
        self.module_view = static_view(
            self.assets.module,
            "text/javascript; charset=utf-8",
            {"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
        )

    def routes(self) -> list[BaseRoute]:
        """``/embed.js``, ``/embed.<hash>.js``, ``/v1/fragment``, ``/embed``."""
        return [
            Route("/embed.js", self.module_redirect, methods=["GET", "HEAD"]),
            Route(self.assets.path, self.module, methods=["GET", "HEAD"]),
            Route("/v1/fragment", self.fragment, methods=["GET"]),
            Route("/embed", self.frame, methods=["GET"]),
        ]

    async def module_redirect(self, request: Request) -> Response:
        """``/embed.js`` → the current hashed module, cached briefly so a deploy shows soon."""
        return RedirectResponse(
            self.assets.path,
            status_code=302,
            headers={"Cache-Control": "public, max-age=300"},
        )

    async def module(self, request: Request) -> Response:
        """The module under its content hash: cached for good (gzipped when accepted)."""
        return respond(request, self.module_view)

    async def _page(self, query: Query) -> Page:
        try:
            return await self.reader().page(
                limit=query.limit,
                before=None,
                section=query.section,
                label=query.label,
                lang=query.lang,
            )
        except RedisError as exc:
            raise store_down() from exc

    async def fragment(self, request: Request) -> Response:
        """``GET /v1/fragment``: the column as an HTML fragment, with ETag/304."""
        query = Query.parse(request)
        return await self.views().serve(
            request, ("fragment", *query.key), lambda: self._fragment(query)
        )

    async def _fragment(self, query: Query) -> Rendered:
        page = await self._page(query)
        body = fragment_bytes(self.settings, self.assets, page, query)
        keys = edge_keys(page.headlines, query.section, query.label, query.lang)
        return render(
            body,
            "text/html; charset=utf-8",
            max_age=self.settings.cache_max_age,
            # For hosts whose CSP lists style hashes: the fragment's one <style> element.
            headers={
                "X-Content-Type-Options": "nosniff",
                "Livefeed-Style-Hash": self.assets.style_hash,
                **edge_headers(keys, self.settings.edge_max_age),
            },
            expires_ms=page.ages_out_ms,
        )

    async def frame(self, request: Request) -> Response:
        """``GET /embed``: a minimal page for an ``<iframe>``; links open in the top window."""
        query = Query.parse(request)
        if "heading-level" not in request.query_params:
            query = replace(query, level=1)
        return await self.views().serve(request, ("frame", *query.key), lambda: self._frame(query))

    async def _frame(self, query: Query) -> Rendered:
        page = await self._page(query)
        speaks = negotiate(query.lang, self.settings.language)
        title = html.escape(
            column_heading(query.heading, query.section, self.settings.section_names, speaks)
        )
        head = (
            f'<!doctype html>\n<html lang="{speaks}" dir="{direction(speaks)}"><head>'
            '<meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="color-scheme" content="light">'
            f"<title>{title} — livefeed</title><style>{FRAME_CSS}</style>"
            '<base target="_top"><link rel="icon" href="data:,">'
            f'<script type="module" src="{self.assets.path}"></script></head><body><main>'
        ).encode()
        body = head + fragment_bytes(self.settings, self.assets, page, query)
        body += b"</main></body></html>\n"
        keys = edge_keys(page.headlines, query.section, query.label, query.lang)
        return render(
            body,
            "text/html; charset=utf-8",
            max_age=0,
            headers={
                "Content-Security-Policy": frame_csp(self.settings, self.assets),
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "strict-origin-when-cross-origin",
                **edge_headers(keys, self.settings.edge_max_age),
            },
            expires_ms=page.ages_out_ms,
        )


class EmbedCors:
    """CORS for the embed origins on the data paths (``/v1/fragment``, ``/v1/timeline``):
    exactly those origins, never ``*``; the module (``/embed.js``, ``/embed.<hash>.js``) to any.

    Every answer on the data paths says ``Vary: Origin`` (caches keep one copy per origin); an
    origin not in ``LIVEFEED_EMBED_ORIGINS`` gets no ``Access-Control-*`` header at all, so its
    browser refuses the response, and is logged (WARNING, ``origin=``) at most once a minute
    per origin and process, so whoever set the site up finds the origin to add. Preflights
    (``OPTIONS``) are answered here. The module is public code: ``Access-Control-Allow-Origin:
    *`` lets a refused site load it, so the element can tell the reader's console why the
    column is missing (see embed.js, ``refused``).
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = settings.embeds
        self.own = settings.origins  # this service's own pages: never a refusal to report
        self.refused: dict[str, float] = {}  # origin -> when last logged (monotonic)

    def note_refused(self, origin: str) -> None:
        """Log a refused origin unless it was logged within the last minute (bounded memory:
        at most ``REFUSED_LOG_MAX`` origins are remembered; beyond that, new ones wait)."""
        name = normalize_origin(origin) or origin[:100]
        if name in self.own:
            return
        now = time.monotonic()
        last = self.refused.get(name)
        if last is not None and now - last < REFUSED_LOG_SECONDS:
            return
        if last is None and len(self.refused) >= REFUSED_LOG_MAX:
            cutoff = now - REFUSED_LOG_SECONDS
            self.refused = {k: t for k, t in self.refused.items() if t > cutoff}
            if len(self.refused) >= REFUSED_LOG_MAX:
                return
        self.refused[name] = now
        log.warning(
            "refused a site not in LIVEFEED_EMBED_ORIGINS: no CORS headers, its column stays "
            "empty (add the origin there to let it embed the column)",
            extra={"origin": name},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and MODULE_PATHS.match(scope["path"]):
            await self.app(
                scope, receive, _with_headers(send, [(b"access-control-allow-origin", b"*")])
            )
            return
        if scope["type"] != "http" or not CORS_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        allowed = origin_allowed(origin, self.allowed)
        extra: list[tuple[bytes, bytes]] = [(b"vary", b"Origin")]
        if allowed:
            assert origin is not None
            extra.append((b"access-control-allow-origin", origin.encode("latin-1")))
        elif origin is not None:
            self.note_refused(origin)
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            if allowed:
                extra += [
                    (b"access-control-allow-methods", b"GET, HEAD"),
                    (b"access-control-allow-headers", b"Last-Event-ID, Cache-Control, Accept"),
                    (b"access-control-max-age", b"600"),
                ]
            await send({"type": "http.response.start", "status": 204, "headers": extra})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers, vary = [], [b"Origin"]
                for key, value in message.get("headers", []):
                    if key.lower() == b"vary":
                        vary.insert(0, value)
                    else:
                        headers.append((key, value))
                headers += [(b"vary", b", ".join(vary)), *extra[1:]]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """``send`` with ``extra`` headers added to the response's start."""

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sender


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def budget(settings: Settings) -> dict[str, Any]:
    """The module's sizes (for the budget test and the README)."""
    assets = Assets(settings)
    return {"bytes": len(assets.module), "gzipped": assets.gzipped_size, "path": assets.path}
