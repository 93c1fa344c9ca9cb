"""Event ids and events: what the stream readers (push, SSE) read and write to clients."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple, cast

import orjson

_EVENT_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?")
ID_PART_MAX = 2**64 - 1  # each part of a Redis Stream id is an unsigned 64-bit number
PUBLISHED, UPDATED, RETRACTED = b"published", b"updated", b"retracted"
CORRECTED = b"corrected"  # an update that carries a correction note ("correction")
SUMMARY = b"summary"  # the live summary of a scope was set or deleted (shared/summary.py)
KINDS = frozenset({PUBLISHED, UPDATED, RETRACTED, CORRECTED, SUMMARY})
UPDATES = frozenset({UPDATED, CORRECTED})  # changes of an article a subscriber may have
# (section, label, edition) a subscriber asked for
FilterKey = tuple[str | None, str | None, str | None]


class EventId(NamedTuple):
    """A Redis Stream id (``1729781700000-0``), ordered as Redis orders them."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, raw: str | bytes) -> EventId:
        """Parse ``ms-seq`` (or a bare ``ms``), each part at most 2**64-1 as in Redis; raises
        ValueError otherwise."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        match = _EVENT_ID.fullmatch(text)
        if match is None:
            raise ValueError("not an event id like '1729781700000-0'")
        ms, seq = int(match.group(1)), int(match.group(2) or 0)
        if ms > ID_PART_MAX or seq > ID_PART_MAX:
            raise ValueError(f"each part of an event id is at most {ID_PART_MAX}")
        return cls(ms, seq)

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


ZERO = EventId(0, 0)


class Event(NamedTuple):
    """One stream entry, with its JSON text prepared once for every client (each transport
    frames it once: services/push/protocol.py)."""

    id: EventId
    kind: bytes  # published, updated, corrected, retracted or summary
    article: bytes  # the article's id, which lets a slow client's backlog coalesce ('': summary)
    # Where the article is shown now (a retraction: where it was); a summary: its section, or
    # none when it is the whole feed's.
    sections: tuple[str, ...]
    labels: tuple[str, ...]
    text: bytes  # the JSON frame, UTF-8
    # An update: where the article was shown before it. A subscriber whose filter matched that
    # and no longer matches gets ``left()`` (a retraction with reason "filter") instead.
    prev_sections: tuple[str, ...] = ()
    prev_labels: tuple[str, ...] = ()
    # A correction: its note, ``{"text", "at"}`` as JSON (the frame's ``correction``).
    note: bytes = b""
    # The article's edition (``lang``) now, and (an update) before. An entry written before
    # editions existed has none: it reaches unfiltered subscribers only. A summary's edition,
    # or none when it is for every edition.
    lang: str = ""
    prev_lang: str = ""

    @classmethod
    def from_entry(cls, raw_id: bytes, fields: dict[bytes, bytes]) -> Event:
        """Build from an XREAD/XRANGE entry written by the feed worker's apply script."""
        kind = fields.get(b"type", b"")
        if kind not in KINDS:
            raise ValueError(f"unknown event type {kind!r}")
        event_id = EventId.parse(raw_id)
        if kind == SUMMARY:
            return cls._summary(event_id, fields)
        note = fields.get(b"correction", b"") if kind == CORRECTED else b""
        body = _body(note, fields.get(b"headline", b"null"))
        pin = fields.get(b"pin")
        if pin in (b"pinned", b"unpinned"):  # a pin or unpin says so on its frame
            body = b'"pin":"%s",' % pin + body
        text = _head(kind, event_id) + body
        sections, labels = _csv(fields.get(b"sections", b"")), _csv(fields.get(b"labels", b""))
        prev_sections, prev_labels = sections, labels
        lang = fields.get(b"lang", b"").decode()
        prev_lang = lang
        if kind in UPDATES and b"psections" in fields:
            prev_sections = _csv(fields[b"psections"])
            prev_labels = _csv(fields.get(b"plabels", b""))
            prev_lang = fields.get(b"plang", lang.encode()).decode()
        return cls(
            id=event_id,
            kind=kind,
            article=fields.get(b"id", b""),
            sections=sections,
            labels=labels,
            text=text,
            prev_sections=prev_sections,
            prev_labels=prev_labels,
            note=note,
            lang=lang,
            prev_lang=prev_lang,
        )

    @classmethod
    def _summary(cls, event_id: EventId, fields: dict[bytes, bytes]) -> Event:
        """A summary's frame: ``{"type": "summary", "event_id", "section", "lang", "summary"}``
        (``summary``: ``{text, updated_at, by, section, lang}``, or null once deleted)."""
        section = fields.get(b"sections", b"").decode()
        lang = fields.get(b"lang", b"").decode()
        scope = b'"section":%s,"lang":%s,' % (
            orjson.dumps(section or None),
            orjson.dumps(lang or None),
        )
        text = _head(SUMMARY, event_id) + scope + b'"summary":' + fields.get(b"summary", b"null")
        return cls(
            id=event_id,
            kind=SUMMARY,
            article=b"",
            sections=(section,) if section else (),
            labels=(),
            text=text + b"}",
            lang=lang,
            prev_lang=lang,
        )

    def restamp(self, kind: bytes, event_id: EventId, note: bytes | None = None) -> Event:
        """This change's headline announced as ``kind`` under an earlier ``event_id``.

        For a slow client's held frame that a newer change of the same article merges into;
        ``note``: the correction the merged frame carries (default: this change's, if any).
        """
        note = (self.note if note is None else note) if kind == CORRECTED else b""
        rest = self.text[len(_head(self.kind, self.id)) :]  # ['"correction":…,']'"headline":…}'
        if note != self.note:
            rest = _body(note, rest[rest.index(b'"headline":') + len(b'"headline":') : -1])
        text = _head(kind, event_id) + rest
        return self._replace(id=event_id, kind=kind, text=text, note=note)

    def matches(self, section: str | None, label: str | None, lang: str | None = None) -> bool:
        """Whether the article, after this change, is in the filter ``section``/``label``/
        edition ``lang``. A summary is for every filter of its scope: its section's (or every
        section's), its edition's (or every edition's), whatever the label; an unfiltered
        subscriber gets every summary, as it gets every article."""
        if self.kind == SUMMARY:
            return (section is None or not self.sections or section in self.sections) and (
                lang is None or not self.lang or lang == self.lang
            )
        return (
            (section is None or section in self.sections)
            and (label is None or label in self.labels)
            and (lang is None or lang == self.lang)
        )

    def matched_before(
        self, section: str | None, label: str | None, lang: str | None = None
    ) -> bool:
        """Whether the article, before this change, was in the filter ``section``/``label``/
        edition ``lang``."""
        return (
            (section is None or section in self.prev_sections)
            and (label is None or label in self.prev_labels)
            and (lang is None or lang == self.prev_lang)
        )

    def left(self) -> Event:
        """This update as a subscriber sees it whose filter the article has just left."""
        article = orjson.dumps(self.article.decode())
        text = _head(RETRACTED, self.id) + b'"reason":"filter","headline":{"id":%s}}' % article
        return self._replace(
            kind=RETRACTED, text=text, prev_sections=(), prev_labels=(), note=b"", prev_lang=""
        )

    def for_filter(
        self, section: str | None, label: str | None, lang: str | None = None
    ) -> Event | None:
        """What a subscriber filtering on ``section``/``label``/``lang`` receives for this
        event."""
        if self.matches(section, label, lang):
            return self
        if self.kind in UPDATES and self.matched_before(section, label, lang):
            return self.left()
        return None

    def filter_keys(self, known: Iterable[FilterKey] = ()) -> tuple[set[FilterKey], set[FilterKey]]:
        """The filters that receive this event, and those that receive ``left()`` instead.

        A summary is for filters of any label, which cannot be listed: it goes to those of the
        ``known`` filters (the subscribers' ones) that it ``matches``."""
        if self.kind == SUMMARY:
            return {key for key in known if self.matches(*key)}, set()
        now = _keys(self.sections, self.labels, self.lang)
        if self.kind not in UPDATES or (
            self.prev_sections == self.sections
            and self.prev_labels == self.labels
            and self.prev_lang == self.lang
        ):
            return now, set()
        before = _keys(self.prev_sections, self.prev_labels, self.prev_lang)
        return now, before - now


def _keys(sections: tuple[str, ...], labels: tuple[str, ...], lang: str) -> set[FilterKey]:
    """Every filter an article in ``sections``, ``labels`` and edition ``lang`` is shown to."""
    langs = (None, lang) if lang else (None,)
    return {(s, lb, lg) for s in (None, *sections) for lb in (None, *labels) for lg in langs}


def _head(kind: bytes, event_id: EventId) -> bytes:
    return b'{"type":"%s","event_id":"%s",' % (kind, str(event_id).encode())


def _body(note: bytes, headline: bytes) -> bytes:
    """The frame after its head: ``"correction":{…},`` (corrections only), the headline."""
    if note:
        return b'"correction":' + note + b',"headline":' + headline + b"}"
    return b'"headline":' + headline + b"}"


def _csv(raw: bytes) -> tuple[str, ...]:
    return tuple(part for part in raw.decode().split(",") if part)


Entry = tuple[bytes, dict[bytes, bytes]]


def stream_entries(raw: Any) -> list[Entry]:
    """XRANGE/XREVRANGE output with its (loosely typed) redis-py result made precise."""
    return cast(list[Entry], raw or [])


def newest_id(raw: Any) -> EventId:
    """The id of the first entry of an ``XREVRANGE ... COUNT 1`` (0-0 for an empty stream)."""
    entries = stream_entries(raw)
    return EventId.parse(entries[0][0]) if entries else ZERO
