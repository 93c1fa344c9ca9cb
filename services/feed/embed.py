"""The live column on other sites: ``/embed.js``, ``/v1/fragment``, ``/embed`` and their CORS.

- ``GET /embed.js`` redirects (short-lived) to ``/embed.<hash>.js``, the ES module that defines
  ``<livefeed-column>``; the hashed URL never changes content (``Cache-Control: immutable``).
  The module carries its CSS and the URLs it connects to (the push WebSocket, SSE, timeline,
  fragment), filled in from the settings when served: nothing is hard-coded in the file.
- ``GET /v1/fragment?section=&label=&lang=&limit=`` is the column as HTML for SSI/ESI or a CMS
  include: a ``<livefeed-column>`` holding a declarative shadow root (``<template
  shadowrootmode>``), so it is styled and isolated from the host page's CSS even without
  JavaScript. The element hydrates that markup in place; created empty, it fetches the same
  fragment (one request).
- ``GET /v1/fragment?view=teaser&limit=&href=&section=&label=&lang=`` is the home page's
  ``<livefeed-teaser>`` the same way (services/feed/teaser.py); another ``view`` is a 400.
- ``GET /embed?section=&label=&lang=&limit=`` is a minimal page around the fragment for an
  iframe;
  ``frame-ancestors`` lists ``LIVEFEED_EMBED_ORIGINS``; its ``connect-src`` allows the push
  WebSocket and its SSE fallback.
- Both take ``heading`` (the column's title; ``shared.headings`` has the one rule) and ``lang``
  (an edition: that language's articles, the column in its words, dates and direction).

CORS (``EmbedCors``): ``/v1/timeline`` and ``/v1/fragment`` answer exactly the origins in
``LIVEFEED_EMBED_ORIGINS`` (never ``*``), with ``Vary: Origin``, and a refused origin is logged
(once a minute); the module answers every origin (``*``: public code, no data), so a refused
site runs it and its console says why. The stream (WebSocket and SSE) is on the push port, whose
Origin allowlist includes the same origins.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.feed import permalink
from services.feed.caching import Rendered, edge_headers, render, respond, static_view
from services.feed.column import (
    Assets,
    Query,
    fragment_bytes,
    sha256_source,
)
from services.feed.handlers import ColumnHandlers
from services.feed.page import connect_sources
from services.feed.params import bad_query, store_down
from services.feed.readcache import ReadCache
from services.feed.store import Page, TimelineReader
from services.feed.teaser import TeaserQuery, teaser_bytes
from shared.headings import column_heading
from shared.i18n import direction, negotiate
from shared.origins import normalize_origin, origin_allowed
from shared.settings import Settings

log = logging.getLogger(__name__)

# Paths that answer only the embed origins: the fragment, the JSON, the click beacon and the
# public readers count.
CORS_PATHS = re.compile(r"^/(?:v1/timeline|v1/fragment|v1/clicks|v1/audience/count)$")
# The module answers every origin (``*``): it is public code, and a site not (yet) in
# LIVEFEED_EMBED_ORIGINS must be able to run it for the element to say why it shows nothing.
MODULE_PATHS = re.compile(r"^/embed(?:\.[0-9a-f]{12})?\.js$")
REFUSED_LOG_SECONDS = 60.0  # a refused origin is logged at most once a minute (per process)
REFUSED_LOG_MAX = 1000  # origins remembered for that; beyond, refusals go unlogged until expiry
IMMUTABLE = "public, max-age=31536000, immutable"

# Only the body's margin: the column's own styles live in its shadow root.
FRAME_CSS = "html,body{margin:0;background:Canvas}"


def frame_csp(settings: Settings, assets: Assets) -> str:
    """The iframe page's policy: framed only by the embed origins (and this origin)."""
    ancestors = " ".join(["'self'", *sorted(settings.embeds)])
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            f"style-src {assets.style_hash} {sha256_source(FRAME_CSS)}",
            "img-src 'self' data:",
            f"connect-src 'self' {connect_sources(settings)}",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {ancestors}",
        )
    )


class Embed(ColumnHandlers):
    """The handlers: module, fragment, iframe page."""

    def __init__(
        self,
        settings: Settings,
        reader: Callable[[], TimelineReader],
        views: Callable[[], ReadCache],
        assets: Assets,
    ) -> None:
        super().__init__(settings, reader, views, assets)
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
        if query.at is not None:  # a permalink (services/feed/permalink.py)
            return await permalink.around(
                self.reader(), query.at, query.limit, query.section, query.label, query.lang
            )
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
        """``GET /v1/fragment``: the column (or, ``view=teaser``, the teaser) as an HTML
        fragment, with ETag/304."""
        view = request.query_params.get("view", "column")
        if view == "teaser":
            return await self.teaser(request)
        if view != "column":
            raise bad_query("view", "must be 'column' or 'teaser'")
        query = Query.parse(request)
        return await self.views().serve(
            request, ("fragment", *query.key), lambda: self._fragment(query)
        )

    async def _fragment(self, query: Query) -> Rendered:
        page = await self._page(query)
        body = fragment_bytes(self.settings, self.assets, page, query)
        return self._fragment_view(body, page, query, self.assets.style_hash)

    def _fragment_view(
        self, body: bytes, page: Page, query: Query | TeaserQuery, style_hash: str
    ) -> Rendered:
        """A fragment (the column's or the teaser's) as served, with its edge keys and, for
        hosts whose CSP lists style hashes, the hash of its one ``<style>`` element."""
        keys = permalink.keys_of(page, query.section, query.label, query.lang)
        return render(
            body,
            "text/html; charset=utf-8",
            max_age=self.settings.cache_max_age,
            headers={
                "X-Content-Type-Options": "nosniff",
                "Livefeed-Style-Hash": style_hash,
                **edge_headers(keys, self.settings.edge_max_age),
            },
            expires_ms=page.ages_out_ms,
        )

    async def teaser(self, request: Request) -> Response:
        """``GET /v1/fragment?view=teaser``: the home page's teaser (services/feed/teaser.py)."""
        query = TeaserQuery.parse(request)
        return await self.views().serve(
            request, ("teaser", *query.key), lambda: self._teaser(query)
        )

    async def _teaser(self, query: TeaserQuery) -> Rendered:
        page = await self._page(query.column)
        body = teaser_bytes(self.settings, self.assets, page, query)
        return self._fragment_view(body, page, query, self.assets.teaser_style_hash)

    async def frame(self, request: Request) -> Response:
        """``GET /embed``: a minimal page for an ``<iframe>``; links open in the top window."""
        query = Query.parse(request)
        if "heading-level" not in request.query_params:
            query = query.at_level(1)
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
            '<meta name="color-scheme" content="light dark">'
            f"<title>{title} — livefeed</title><style>{FRAME_CSS}</style>"
            '<base target="_top"><link rel="icon" href="data:,">'
            f'<script type="module" src="{self.assets.path}"></script></head><body><main>'
        ).encode()
        body = head + fragment_bytes(self.settings, self.assets, page, query)
        body += b"</main></body></html>\n"
        keys = permalink.keys_of(page, query.section, query.label, query.lang)
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
                beacon = scope["path"] == "/v1/clicks"  # services/feed/clicks.py
                methods = b"POST" if beacon else b"GET, HEAD"
                sent = b"Content-Type" if beacon else b"Last-Event-ID, Cache-Control, Accept"
                extra += [
                    (b"access-control-allow-methods", methods),
                    (b"access-control-allow-headers", sent),
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
