"""RSS 2.0 and Atom documents to native article fields, one draft per entry.

The bytes are first parsed by ``defusedxml`` with entity declarations and external references
forbidden: an XML bomb or an XXE attempt is refused with 400 before ``feedparser`` (whose
strict parser would expand internal entities) ever sees it. Only then does ``feedparser``
read the document, from memory (never as a URL or a file name).

The mapping (also in docs/api.md, "Formats"):

=====================================  ===================  ======================================
RSS 2.0                                Atom                 article
=====================================  ===================  ======================================
``guid`` (else ``link``)               ``id`` (else link)   ``id`` (see ``drafts.article_id_for``)
``title``                              ``title``            ``title`` (markup stripped)
``link``                               ``link`` alternate   ``url``
``pubDate`` (else ``dc:date``)         ``published``        ``published_at``
                                       (else ``updated``)
``dc:date`` when after ``pubDate``     ``updated``          ``updated_at``
``category``                           ``category``         ``tags`` (distinct, first 32)
``description``                        ``summary``          ``summary`` (plain, cut to 2000 chars)
``author``/``dc:creator``              ``author/name``      ``byline``
channel ``language``                   ``xml:lang``         ``language``
=====================================  ===================  ======================================
"""

from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import defusedxml
import defusedxml.ElementTree
import feedparser

from services.ingest.drafts import Draft, source_id, summary_from, tags_from
from shared.models import is_language
from shared.starlette_glue import ProblemError


@dataclass
class Syndication:
    """A parsed document: its kind (``rss`` or ``atom``) and one draft per entry."""

    kind: str
    drafts: list[Draft]


def looks_like_xml(body: bytes) -> bool:
    """Whether the body starts like an XML document (after a BOM and white space)."""
    return body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def refuse_dangerous_xml(body: bytes) -> ET.Element:
    """400 for XML that is not well-formed or declares entities or external references."""
    try:
        root: ET.Element = defusedxml.ElementTree.fromstring(
            body, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as exc:
        raise ProblemError(
            400,
            "the XML declares entities or external references, which are refused "
            "(XML bomb and XXE protection); send the feed without a DTD internal subset",
            errors=[{"field": "body", "reason": f"refused: {type(exc).__name__}"}],
        ) from exc
    except ET.ParseError as exc:
        raise ProblemError(
            400,
            "the body is not well-formed XML",
            errors=[{"field": "body", "reason": str(exc)}],
        ) from exc
    return root


def _entry_count(root: ET.Element) -> int:
    """RSS ``item`` and Atom ``entry`` elements, counted on the cheap C tree (any namespace)."""
    return sum(1 for el in root.iter() if el.tag.rpartition("}")[2] in {"item", "entry"})


def _utc(parsed: time.struct_time | None) -> str | None:
    # feedparser normalises every date it understands to a UTC struct_time.
    if parsed is None:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC).isoformat()
    except (ValueError, TypeError, OverflowError):
        # Normalising to UTC can leave 1-9999 (9999-12-31T23:59-05:00 is in year 10000): the
        # entry is then rejected as having no usable date, never a 500.
        return None


def _entry_draft(entry: dict[str, Any], index: int, kind: str, language: str | None) -> Draft:
    draft = Draft(index=index)
    rss = kind == "rss"
    guid, link = entry.get("id"), entry.get("link")
    if isinstance(guid, str) and guid.strip():
        source_id(draft, guid, "guid" if rss else "id")
    elif isinstance(link, str) and link.strip():
        source_id(draft, link, "link")
    else:
        draft.reject("guid" if rss else "id", "required: a guid/id or a link identifying the entry")

    if isinstance(entry.get("title"), str):
        draft.fields["title"] = entry["title"]
    else:
        draft.reject("title", "required")
    if isinstance(link, str) and link.strip():
        draft.fields["url"] = link
        draft.names["url"] = "link"

    published = _utc(entry.get("published_parsed"))
    updated = _utc(entry.get("updated_parsed"))
    if published is not None:
        draft.fields["published_at"] = published
        draft.names["published_at"] = "pubDate" if rss else "published"
        if updated is not None and updated > published:
            draft.fields["updated_at"] = updated
            draft.names["updated_at"] = "dc:date" if rss else "updated"
    elif updated is not None:
        draft.fields["published_at"] = updated
        draft.names["published_at"] = "dc:date" if rss else "updated"
    else:
        reason = "required: a date feedparser understands (RFC 822 or RFC 3339)"
        draft.reject("pubDate" if rss else "updated", reason)

    categories = [
        tag.get("label") or tag.get("term") or ""
        for tag in entry.get("tags") or []
        if isinstance(tag, dict)
    ]
    tags = tags_from([c for c in categories if isinstance(c, str)])
    if tags:
        draft.fields["tags"] = tags
        draft.names["tags"] = "category"
    if isinstance(entry.get("summary"), str):
        summary = summary_from(entry["summary"])
        if summary:
            draft.fields["summary"] = summary
            draft.names["summary"] = "description" if rss else "summary"
    if isinstance(entry.get("author"), str) and entry["author"].strip():
        draft.fields["byline"] = entry["author"]
        draft.names["byline"] = "author"
    detail = entry.get("title_detail")
    entry_language = detail.get("language") if isinstance(detail, dict) else None
    chosen = entry_language or language
    if isinstance(chosen, str) and is_language(chosen):
        draft.fields["language"] = chosen
    draft.names["title"] = "title"
    return draft


def parse_syndication(body: bytes, max_entries: int) -> Syndication:
    """Check and parse an RSS or Atom document into drafts (raises ProblemError)."""
    root = refuse_dangerous_xml(body)
    # Refuse an oversized document before feedparser spends seconds on it.
    if _entry_count(root) > max_entries:
        container = "entries" if root.tag.rpartition("}")[2] == "feed" else "items"
        raise ProblemError(
            413,
            f"a document holds at most {max_entries} entries; split it",
            errors=[{"field": container, "reason": f"more than {max_entries} entries"}],
        )
    parsed = feedparser.parse(io.BytesIO(body), resolve_relative_uris=False, sanitize_html=True)
    version = str(parsed.get("version") or "")
    if version.startswith("atom"):
        kind = "atom"
    elif version.startswith("rss"):
        kind = "rss"
    else:
        raise ProblemError(
            422,
            "the XML is neither an RSS 2.0 nor an Atom document",
            errors=[{"field": "body", "reason": "no <rss> channel or Atom <feed> found"}],
        )
    entries: list[dict[str, Any]] = list(parsed.get("entries") or [])
    container = "items" if kind == "rss" else "entries"
    if not entries:
        raise ProblemError(
            422,
            f"the {kind} document has no {container}",
            errors=[{"field": container, "reason": "must hold at least one entry"}],
        )
    if len(entries) > max_entries:
        raise ProblemError(
            413,
            f"a document holds at most {max_entries} entries; split it",
            errors=[{"field": container, "reason": f"more than {max_entries} entries"}],
        )
    feed = parsed.get("feed") or {}
    language = feed.get("language") if isinstance(feed, dict) else None
    drafts = [_entry_draft(entry, i, kind, language) for i, entry in enumerate(entries)]
    return Syndication(kind, drafts)
