"""What a reader asked for: ``?since=&section=&label=&lang=&tabs=`` (every transport: push's
WebSocket and SSE, and behind a GRIP proxy the feed's answers, services/feed/grip.py)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from shared.audience import tabs_value
from shared.events import EventId
from shared.models import label_filter, lang_filter, section_filter

MAX_QUERY_FIELDS = 20


@dataclass(frozen=True)
class StreamQuery:
    """What a client asked for in ``/v1/stream?since=&section=&label=&lang=``."""

    since: EventId | None
    section: str | None
    label: str | None
    lang: str | None = None  # an edition: ``uk`` (``uk-UA`` asked)
    tabs: int = 1  # the tabs the page's connection serves (anything but 1-1000 counts as 1)


class QueryError(ValueError):
    """A bad query parameter, with the parameter's name."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(reason)
        self.name = name
        self.reason = reason

    @property
    def detail(self) -> str:
        """The problem document's detail: the parameter and what is wrong with it."""
        return f"{self.name}: {self.reason}"

    @property
    def errors(self) -> list[dict[str, str]]:
        """The problem document's ``errors``, naming the parameter."""
        return [{"field": self.name, "reason": self.detail}]


def parse_query(query: str, *, read_since: bool = True) -> StreamQuery:
    """Validate the stream's query string; ``read_since=False`` leaves ``since`` out (unread,
    unchecked): an SSE request's ``Last-Event-ID`` header stands in its place."""
    try:
        params = parse_qs(query, keep_blank_values=False, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError as exc:  # more fields than that: parse_qs refuses to go on
        raise QueryError("query", f"at most {MAX_QUERY_FIELDS} query parameters") from exc

    def one(name: str) -> str | None:
        values = params.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise QueryError(name, "must be given once")
        return values[0]

    since_raw = one("since") if read_since else None
    section_raw, label_raw = one("section"), one("label")
    try:
        since = EventId.parse(since_raw) if since_raw else None
    except ValueError as exc:
        raise QueryError("since", str(exc)) from exc
    try:
        section = section_filter(section_raw)
    except ValueError as exc:
        raise QueryError("section", str(exc)) from exc
    try:
        label = label_filter(label_raw)
    except ValueError as exc:
        raise QueryError("label", str(exc)) from exc
    try:
        lang = lang_filter(one("lang"))
    except ValueError as exc:
        raise QueryError("lang", str(exc)) from exc
    # Advisory (the reader counts): a bad value is ignored, never a refusal.
    tabs = tabs_value(params.get("tabs", [""])[-1]) or 1
    return StreamQuery(since, section, label, lang, tabs)


def parse_last_event_id(header: str | None) -> EventId | None:
    """The ``Last-Event-ID`` header (as EventSource sends it on reconnect), None when absent or
    empty. When present it wins over ``?since=``, which is then not read at all (a stale or
    broken ``since`` in the URL EventSource keeps does not matter once it has an event id).

    Raises ``QueryError`` naming ``Last-Event-ID`` when the header is not an event id.
    """
    if not header:
        return None
    try:
        return EventId.parse(header)
    except ValueError as exc:
        raise QueryError("Last-Event-ID", str(exc)) from exc
