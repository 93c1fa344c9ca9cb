"""``/feed.rss`` (RSS 2.0), ``/feed.atom`` (Atom 1.0) and ``/feed.json`` (JSON Feed 1.1).

Each reads the newest page of the (optionally filtered) timeline, the same data the live page
shows, and is built with ``xml.etree.ElementTree`` or ``orjson``: titles are always escaped by
the serializer, never pasted into markup. Breaking headlines carry a ``breaking`` category
(JSON Feed: a ``breaking`` tag and ``_livefeed.breaking``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from services.feed.caching import Rendered, edge_headers, edge_keys, render
from services.feed.handlers import ViewHandlers
from services.feed.params import label_param, lang_param, limit_param, section_param, store_down
from services.feed.store import Page
from services.feed.timeline import localize
from shared.events import EventId
from shared.i18n import N_, gettext, negotiate
from shared.models import display_label
from shared.settings import Settings
from shared.topics import feed_url

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
ET.register_namespace("atom", ATOM_NS)
ET.register_namespace("dc", DC_NS)
FEED_ITEMS = 50
MAX_FEED_ITEMS = 200
RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
JSON_FEED_TYPE = "application/feed+json; charset=utf-8"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
DESCRIPTION = N_("Live headlines, newest first")
FILTER_NAMES = {"section": N_("section"), "label": N_("label")}


class FeedContext:
    """What every format needs: the items, the filter, the URLs and the last change."""

    def __init__(
        self, settings: Settings, request: Request, page: Page, filters: dict[str, str]
    ) -> None:
        self.settings = settings
        # The feed's language: its edition's, else LIVEFEED_LANGUAGE's (the unfiltered feed).
        self.lang = filters.get("lang") or settings.language
        self.speaks = negotiate(filters.get("lang"), settings.language)
        self.base = settings.feed_url.rstrip("/")
        self.items = [localize(h, settings.zone) for h in page.headlines]
        self.filters = filters
        self.query = f"?{urlencode(filters)}" if filters else ""
        self.self_url = feed_url(self.base, request.url.path, **filters)
        # WebSub: the hubs pinged when this feed changes (shared.topics.changed_feeds: the
        # unfiltered feeds and those on one filter; none is named for two filters).
        self.hubs = settings.websub_hubs if len(filters) <= 1 else []
        self.home = f"{self.base}/{self.query}"
        event_ms = EventId.parse(page.event_id).ms
        newest = max((last_change(i) for i in self.items), default=None)
        # The stream's last event is the last change to anything (retractions included) but
        # for items trimmed off the window, which the store stamps separately.
        event_ms = max(event_ms, page.changed_ms)
        self.last_modified_ms = event_ms or (int(newest.timestamp() * 1000) if newest else 0)
        self.updated = datetime.fromtimestamp(
            self.last_modified_ms / 1000, tz=settings.zone
        ).replace(microsecond=0)

    @property
    def title(self) -> str:
        """``News``, or ``News: section world, label exclusive``, in the feed's language (an
        edition is named by its language alone: ``Новини``)."""
        news = gettext(self.speaks, "News")
        named = [
            f"{gettext(self.speaks, FILTER_NAMES[k])} {v}"
            for k, v in self.filters.items()
            if k in FILTER_NAMES
        ]
        return f"{news}: {', '.join(named)}" if named else news

    @property
    def description(self) -> str:
        """``Live headlines, newest first`` in the feed's language."""
        return gettext(self.speaks, DESCRIPTION)

    def editions(self, path: str) -> list[tuple[str, str]]:
        """``(hreflang, url)`` of this feed in each edition (``services.feed.page.editions``)."""
        from services.feed.page import editions

        base = {k: v for k, v in self.filters.items() if k != "lang"}
        return [
            (code, feed_url(self.base, path, base.get("section"), base.get("label"), code))
            for code in editions(self.settings)
        ]

    def link(self, item: dict[str, Any]) -> str:
        """The article's URL, or its API URL when the newsroom gave none."""
        url = item.get("url")
        return str(url) if url else f"{self.base}/v1/articles/{quote(item['id'], safe='')}"


def last_change(item: dict[str, Any]) -> datetime:
    """The last change of an item: its ``updated_at`` (else published), or a later correction."""
    moment = datetime.fromisoformat(item.get("updated_at") or item["published_at"])
    for note in item.get("corrections") or []:
        moment = max(moment, datetime.fromisoformat(note["at"]))
    return moment


def correction_lines(item: dict[str, Any], lang: str) -> list[str]:
    """``Corrected 17:40: <note>`` for each correction, oldest first (as the page shows them),
    in the feed's language."""
    return [
        f"{gettext(lang, 'Corrected {time}').format(time=n['at'][11:16])}: {n['text']}"
        for n in item.get("corrections") or []
    ]


def _item_language(ctx: FeedContext, item: dict[str, Any]) -> str:
    return str(item.get("language") or ctx.settings.language)


def _described(item: dict[str, Any], lang: str) -> str | None:
    """The summary with the correction notes after it (plain text), or None when neither."""
    parts = [item["summary"]] if item.get("summary") else []
    parts.extend(correction_lines(item, lang))
    return "\n\n".join(parts) if parts else None


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = text
    return node


def _xml(root: ET.Element) -> bytes:
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def rss(ctx: FeedContext) -> bytes:
    """RSS 2.0 with ``atom:link rel=self`` and ``dc:creator``."""
    root = ET.Element("rss", {"version": "2.0"})
    channel = _sub(root, "channel")
    _sub(channel, "title", ctx.title)
    _sub(channel, "link", ctx.home)
    _sub(channel, "description", ctx.description)
    _sub(channel, "language", ctx.lang)
    _sub(channel, "lastBuildDate", format_datetime(ctx.updated))
    _sub(channel, "generator", "livefeed")
    _sub(channel, f"{{{ATOM_NS}}}link", href=ctx.self_url, rel="self", type="application/rss+xml")
    for code, url in ctx.editions("/feed.rss"):
        _sub(channel, f"{{{ATOM_NS}}}link", href=url, rel="alternate", hreflang=code,
             type="application/rss+xml")  # fmt: skip
    for hub in ctx.hubs:
        _sub(channel, f"{{{ATOM_NS}}}link", href=hub, rel="hub")
    for item in ctx.items:
        node = _sub(channel, "item")
        _sub(node, "title", item["title"])
        _sub(node, "link", ctx.link(item))
        _sub(node, "guid", item["id"], isPermaLink="false")
        _sub(node, "pubDate", format_datetime(datetime.fromisoformat(item["published_at"])))
        description = _described(item, ctx.speaks)
        if description:
            _sub(node, "description", description)
        if item.get("byline"):
            _sub(node, f"{{{DC_NS}}}creator", item["byline"])
        if item.get("corrections"):
            _sub(node, "category", "corrected")
        for label in item.get("labels", []):
            _sub(node, "category", label)
        if item.get("section"):
            _sub(node, "category", item["section"], domain="section")
    return _xml(root)


def atom(ctx: FeedContext) -> bytes:
    """Atom 1.0 (RFC 4287): labels are categories with their display form as ``label``."""
    # Atom as the default namespace (no "atom:" prefixes): ElementTree's default_namespace
    # option refuses un-namespaced attributes, so the declaration is set on the root and the
    # children are left unqualified, which puts them in that namespace.
    ns = ""
    root = ET.Element("feed", {"xmlns": ATOM_NS, XML_LANG: ctx.lang})
    _sub(root, f"{ns}id", ctx.self_url)
    _sub(root, f"{ns}title", ctx.title)
    _sub(root, f"{ns}updated", ctx.updated.isoformat())
    _sub(root, f"{ns}link", rel="self", href=ctx.self_url, type="application/atom+xml")
    _sub(root, f"{ns}link", rel="alternate", href=ctx.home, type="text/html")
    for code, url in ctx.editions("/feed.atom"):
        _sub(root, f"{ns}link", rel="alternate", hreflang=code, href=url,
             type="application/atom+xml")  # fmt: skip
    for hub in ctx.hubs:
        _sub(root, f"{ns}link", rel="hub", href=hub)
    _sub(_sub(root, f"{ns}author"), f"{ns}name", "livefeed newsroom")
    _sub(root, f"{ns}generator", "livefeed")
    for item in ctx.items:
        entry = _sub(root, f"{ns}entry", **{XML_LANG: _item_language(ctx, item)})
        _sub(entry, f"{ns}id", f"urn:livefeed:article:{quote(item['id'], safe='')}")
        _sub(entry, f"{ns}title", item["title"], type="text")
        _sub(entry, f"{ns}link", rel="alternate", href=ctx.link(item))
        _sub(entry, f"{ns}published", item["published_at"])
        _sub(entry, f"{ns}updated", last_change(item).isoformat())
        if item.get("byline"):
            _sub(_sub(entry, f"{ns}author"), f"{ns}name", item["byline"])
        for label in item.get("labels", []):
            _sub(entry, f"{ns}category", term=label, label=display_label(label, ctx.speaks))
        if item.get("section"):
            _sub(entry, f"{ns}category", term=item["section"], scheme=f"{ctx.base}/sections")
        summary = _described(item, ctx.speaks)
        if summary:
            _sub(entry, f"{ns}summary", summary, type="text")
    return _xml(root)


def json_feed(ctx: FeedContext) -> bytes:
    """JSON Feed 1.1; livefeed's own fields go under ``_livefeed`` as the spec allows."""
    items = []
    for item in ctx.items:
        entry: dict[str, Any] = {
            "id": item["id"],
            "url": ctx.link(item),
            "title": item["title"],
            "content_text": _described(item, ctx.speaks) or item["title"],
            "date_published": item["published_at"],
            "date_modified": last_change(item).isoformat(),
            "tags": list(item.get("labels", [])),
            "_livefeed": {
                "breaking": bool(item.get("breaking")),
                "labels": item.get("labels", []),
                "section": item.get("section"),
                "time": item["time"],
                "date": item["date"],
                "corrections": item.get("corrections") or [],
            },
        }
        if item.get("summary"):
            entry["summary"] = item["summary"]
        if item.get("byline"):
            entry["authors"] = [{"name": item["byline"]}]
        if item.get("language"):
            entry["language"] = item["language"]
        items.append(entry)
    body: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": ctx.title,
        "home_page_url": ctx.home,
        "feed_url": ctx.self_url,
        "description": ctx.description,
        "language": ctx.lang,
        "items": items,
    }
    if ctx.hubs:
        body["hubs"] = [{"type": "WebSub", "url": hub} for hub in ctx.hubs]
    return orjson.dumps(body)


Builder = Callable[[FeedContext], bytes]
FORMATS: dict[str, tuple[Builder, str]] = {
    "rss": (rss, RSS_TYPE),
    "atom": (atom, ATOM_TYPE),
    "json": (json_feed, JSON_FEED_TYPE),
}


class Feeds(ViewHandlers):
    """The three feed endpoints over one timeline reader."""

    async def endpoint(self, request: Request) -> Response:
        """``GET /feed.{rss,atom,json}?section=&label=&lang=&limit=``."""
        fmt = request.url.path.rsplit(".", 1)[-1]
        query = request.query_params
        section, label, lang = section_param(query), label_param(query), lang_param(query)
        limit = limit_param(query, FEED_ITEMS, MAX_FEED_ITEMS)
        key = ("feed", fmt, limit, section, label, lang)
        return await self.views().serve(
            request, key, lambda: self._render(request, fmt, limit, section, label, lang)
        )

    async def _render(
        self,
        request: Request,
        fmt: str,
        limit: int,
        section: str | None,
        label: str | None,
        lang: str | None = None,
    ) -> Rendered:
        build, media_type = FORMATS[fmt]
        try:
            page = await self.reader().page(limit=limit, section=section, label=label, lang=lang)
        except RedisError as exc:
            raise store_down() from exc
        filters = {k: v for k, v in (("section", section), ("label", label), ("lang", lang)) if v}
        ctx = FeedContext(self.settings, request, page, filters)
        return render(
            build(ctx),
            media_type,
            max_age=self.settings.cache_max_age,
            last_modified_ms=ctx.last_modified_ms,
            headers={
                "X-Content-Type-Options": "nosniff",
                **edge_headers(
                    edge_keys(page.headlines, section, label, lang), self.settings.edge_max_age
                ),
            },
            expires_ms=page.ages_out_ms,
        )
