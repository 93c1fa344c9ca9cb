"""Event ids and frames: what the stream readers (push, SSE) read and write to clients."""

from __future__ import annotations

import re
from typing import Any, NamedTuple, cast

from websockets.frames import Frame, Opcode

_EVENT_ID = re.compile(r"^(\d{1,20})(?:-(\d{1,20}))?$")
KINDS = frozenset({b"published", b"updated", b"retracted"})


class EventId(NamedTuple):
    """A Redis Stream id (``1729781700000-0``), ordered as Redis orders them."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, raw: str | bytes) -> EventId:
        """Parse ``ms-seq`` (or a bare ``ms``); raises ValueError otherwise."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        match = _EVENT_ID.match(text)
        if match is None:
            raise ValueError("not an event id like '1729781700000-0'")
        return cls(int(match.group(1)), int(match.group(2) or 0))

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


ZERO = EventId(0, 0)


class Event(NamedTuple):
    """One stream entry, with its text frame prepared once for every client."""

    id: EventId
    kind: bytes  # published, updated or retracted
    article: bytes  # the article's id, which lets a slow client's backlog coalesce
    sections: tuple[str, ...]
    labels: tuple[str, ...]
    text: bytes  # the JSON frame, UTF-8
    wire: bytes  # the same as a complete unmasked WebSocket text frame

    @classmethod
    def from_entry(cls, raw_id: bytes, fields: dict[bytes, bytes]) -> Event:
        """Build from an XREAD/XRANGE entry written by the feed worker's apply script."""
        kind = fields.get(b"type", b"")
        if kind not in KINDS:
            raise ValueError(f"unknown event type {kind!r}")
        event_id = EventId.parse(raw_id)
        text = _head(kind, event_id) + b'"headline":' + fields.get(b"headline", b"null") + b"}"
        return cls(
            id=event_id,
            kind=kind,
            article=fields.get(b"id", b""),
            sections=_csv(fields.get(b"sections", b"")),
            labels=_csv(fields.get(b"labels", b"")),
            text=text,
            wire=wire_frame(text),
        )

    def restamp(self, kind: bytes, event_id: EventId) -> Event:
        """This change's headline announced as ``kind`` under an earlier ``event_id``.

        For a slow client's held frame that a newer change of the same article merges into.
        """
        rest = self.text[len(_head(self.kind, self.id)) :]  # '"headline":{...}}'
        text = _head(kind, event_id) + rest
        return self._replace(id=event_id, kind=kind, text=text, wire=wire_frame(text))

    def matches(self, section: str | None, label: str | None) -> bool:
        """Whether a subscriber filtering on ``section``/``label`` wants this event."""
        return (section is None or section in self.sections) and (
            label is None or label in self.labels
        )


def _head(kind: bytes, event_id: EventId) -> bytes:
    return b'{"type":"%s","event_id":"%s",' % (kind, str(event_id).encode())


def _csv(raw: bytes) -> tuple[str, ...]:
    return tuple(part for part in raw.decode().split(",") if part)


def wire_frame(text: bytes) -> bytes:
    """A server-to-client text frame (unmasked, uncompressed), serialized once for everyone."""
    return Frame(Opcode.TEXT, text).serialize(mask=False)


def control_frame(text: str) -> bytes:
    """A ``hello``/``reset`` message as a ready frame."""
    return wire_frame(text.encode())


Entry = tuple[bytes, dict[bytes, bytes]]


def stream_entries(raw: Any) -> list[Entry]:
    """XRANGE/XREVRANGE output with its (loosely typed) redis-py result made precise."""
    return cast(list[Entry], raw or [])


def newest_id(raw: Any) -> EventId:
    """The id of the first entry of an ``XREVRANGE ... COUNT 1`` (0-0 for an empty stream)."""
    entries = stream_entries(raw)
    return EventId.parse(entries[0][0]) if entries else ZERO
