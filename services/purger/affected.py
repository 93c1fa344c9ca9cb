"""Which surrogate keys an event makes stale: the one rule the purger applies.

The feed names every cacheable response by what it shows (services/feed/caching.py): the
unfiltered views ``timeline``, a filtered view ``section:<s>`` / ``label:<l>`` / ``lang:<e>``,
and every view
the article key (``article:<digest>``) of each headline in it, while they fit. A change to an
article therefore stales ``timeline``, its own article key, and the sections and labels it is in
now or was in before, and its edition now and before (``shared.edgekeys.stale``, the keys'
one definition). A change to a live summary stales its scope's key alone, hard
(``shared.edgekeys.summary_key``): the views that may show it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.edgekeys import stale, summary_key
from shared.events import RETRACTED, SUMMARY, UPDATED

Fields = dict[bytes, bytes]


@dataclass(frozen=True)
class Stale:
    """The keys one event stales, and whether a stale copy may still be served once (soft)."""

    keys: frozenset[str]
    hard: bool  # a retraction, or an article leaving a section/label: never serve it again


def _csv(raw: bytes | None) -> set[str]:
    return {part for part in (raw or b"").decode().split(",") if part}


def stale_keys(fields: Fields) -> Stale:
    """The keys an event entry (as the apply script writes it) makes stale."""
    kind = fields.get(b"type", b"")
    if kind == SUMMARY:
        section, lang = fields.get(b"sections", b"").decode(), fields.get(b"lang", b"").decode()
        return Stale(frozenset({summary_key(section or None, lang or None)}), hard=True)
    sections, labels = _csv(fields.get(b"sections")), _csv(fields.get(b"labels"))
    before_sections = _csv(fields.get(b"psections")) if b"psections" in fields else sections
    before_labels = _csv(fields.get(b"plabels")) if b"plabels" in fields else labels
    langs = _csv(fields.get(b"lang"))
    before_langs = _csv(fields.get(b"plang")) if b"plang" in fields else langs
    keys = stale(
        fields.get(b"id", b"").decode(),
        sections | before_sections,
        labels | before_labels,
        langs | before_langs,
    )
    left = kind == UPDATED and (
        before_sections - sections or before_labels - labels or before_langs - langs
    )
    return Stale(keys, hard=kind == RETRACTED or bool(left))
