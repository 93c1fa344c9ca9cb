"""Posted items in any format, turned into native article fields before validation.

ninjs and RSS/Atom converters each produce a :class:`Draft`: the native fields, the operation
(an upsert, or a retraction for a canceled ninjs item), and the name each native field had in
the posted document, so that an error names the field the newsroom actually sent.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.models import (
    ID_CHARS,
    MAX_LABEL_CHARS,
    MAX_LABELS,
    MAX_SUMMARY_CHARS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    is_article_id,
    plain_text,
)

_NOT_ID = re.compile(f"[^{ID_CHARS}]+")
_NOT_LABEL = re.compile(r"[^a-z0-9]+")

MAX_SOURCE_ID_CHARS = 2048
_HASHED_PREFIX_CHARS = 160


@dataclass
class Draft:
    """One posted item as native article fields, not yet validated."""

    index: int
    fields: dict[str, Any] = field(default_factory=dict)
    op: Literal["upsert", "retract"] = "upsert"
    # (version, ms) of a versioned retraction: a canceled ninjs item with version and date
    rank: tuple[int, int] | None = None
    source_id: str | None = None
    # native field -> the field's name in the posted document (for error messages)
    names: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)

    def reject(self, name: str, reason: str) -> None:
        """Record a problem with the posted field ``name``."""
        self.errors.append({"field": name, "reason": reason})


def article_id_for(source: str) -> str:
    """A stable article id for a ninjs ``uri`` or an RSS/Atom ``guid``/``id``.

    A source id that already fits the id alphabet (``A-Z a-z 0-9 . _ : / -``, 1-200 chars) is
    kept as it is, so ``urn:newsml:example.com:20241024:abc`` stays readable. Anything else
    (``?``, ``&``, ``#``, spaces, non-ASCII, over 200 chars) becomes its allowed characters
    (runs of others folded to ``-``, cut to 160) plus ``:h`` and 16 hex digits of its SHA-256:
    the same source always gives the same id, and two sources that differ only in the
    dropped characters still get different ids.
    """
    if is_article_id(source):
        return source
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    readable = _NOT_ID.sub("-", source).strip("-")[:_HASHED_PREFIX_CHARS].rstrip("-")
    return f"{readable}:h{digest}" if readable else f"h{digest}"


def source_id(draft: Draft, value: Any, name: str) -> None:
    """Set the draft's id from a source identifier (uri, guid), or reject ``name``."""
    if not isinstance(value, str) or not value.strip():
        draft.reject(name, "required: a non-empty string identifying the item")
        return
    value = value.strip()
    if len(value) > MAX_SOURCE_ID_CHARS:
        draft.reject(name, f"must be at most {MAX_SOURCE_ID_CHARS} characters")
        return
    draft.source_id = value
    draft.fields["id"] = article_id_for(value)
    draft.names["id"] = name


def label_slug(value: str) -> str:
    """A genre or category name as a label: ``Eyewitness Account`` -> ``eyewitness-account``."""
    folded = unicodedata.normalize("NFKD", plain_text(value)).encode("ascii", "ignore").decode()
    return _NOT_LABEL.sub("-", folded.lower()).strip("-")[:MAX_LABEL_CHARS].rstrip("-")


def labels_from(names: list[str]) -> list[str]:
    """Distinct label slugs, the first eight (empty slugs are skipped)."""
    out: list[str] = []
    for name in names:
        slug = label_slug(name)
        if slug and slug not in out:
            out.append(slug)
    return out[:MAX_LABELS]


def tags_from(names: list[str]) -> list[str]:
    """Distinct plain-text tags of at most 64 characters, the first 32."""
    out: list[str] = []
    for name in names:
        text = plain_text(name)[:MAX_TAG_CHARS].strip()
        if text and text not in out:
            out.append(text)
    return out[:MAX_TAGS]


def summary_from(value: str) -> str | None:
    """Plain text cut to 2000 characters at a word boundary (descriptions can be whole stories)."""
    text = plain_text(value)
    if len(text) <= MAX_SUMMARY_CHARS:
        return text or None
    cut = text[: MAX_SUMMARY_CHARS - 1]
    if " " in cut[-200:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "\u2026"


def rename(path: str, names: dict[str, str]) -> str:
    """A validation error's native field path in the posted document's terms.

    ``published_at`` -> ``firstcreated``; an index inside a renamed list is dropped, since
    it no longer points at the posted element (``tags[3]`` -> ``subjects``).
    """
    head = re.match(r"[A-Za-z_]+", path)
    if head is None or head.group(0) not in names:
        return path
    return names[head.group(0)]
