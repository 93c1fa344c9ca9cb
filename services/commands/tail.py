"""``livefeed tail``: live headlines in a terminal, resuming by itself after any disconnect.

One line per event: ``+`` published, ``~`` updated, ``!`` corrected (with the note), ``-``
retracted (or, with a filter, an update that took the article out of it), ``=`` the live
summary set or removed (paragraphs joined by ``¶``); another type is skipped (``--json``:
printed as it came)::

    + 2024-10-24 19:31  [Exclusive] Belarus' entry into war is unfeasible for Russia
    ~ 2024-10-24 19:31  [Updated] Belarus' entry into war is unfeasible for Russia (new title)
    ! 2024-10-24 19:31  [Corrected 19:48] Belarus' entry … (Correction: the minister's name)
    - retracted espreso:2024-10-24:1931
    - left the filter espreso:2024-10-24:1932
    = summary (section world) 16:55 by desk: Russia launched 40 drones overnight. ¶ Kyiv …
    = summary removed (the whole feed)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections import OrderedDict
from typing import Any, TextIO
from urllib.parse import urlencode

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from shared.events import EventId
from shared.models import display_label
from shared.settings import Settings

BACKOFF_BASE_S = 0.5
MAX_CHANGES = 5000  # articles whose last change printed is remembered, to drop repeats
BACKOFF_CAP_S = 30.0


def add_parser(sub: Any) -> None:
    """Add ``tail`` to the ``livefeed`` command line."""
    tail = sub.add_parser("tail", help="print live headlines as they are published")
    tail.add_argument("--section", help="only this section (a slug)")
    tail.add_argument("--label", help="only headlines with this label")
    tail.add_argument("--since", help="start after this event id (a timeline's event_id)")
    tail.add_argument("--url", help="push service base URL (default: from the settings)")
    tail.add_argument("--json", action="store_true", help="print each event as one JSON line")


ARTICLE_TYPES = frozenset({"published", "updated", "corrected", "retracted"})


def format_summary(message: dict[str, Any]) -> str:
    """One terminal line for a ``summary`` event: its scope, and its text or that it went."""
    named = [f"{name} {message[name]}" for name in ("section", "lang") if message.get(name)]
    where = ", ".join(named) or "the whole feed"
    summary = message.get("summary")
    if not isinstance(summary, dict):
        return f"= summary removed ({where})"
    text = " ¶ ".join(str(summary.get("text", "")).split("\n\n"))
    at = str(summary.get("updated_at", ""))[11:16]
    return f"= summary ({where}) {at} by {summary.get('by', '?')}: {text}"


def format_event(message: dict[str, Any]) -> str:
    """One terminal line for a published/updated/corrected/retracted event."""
    headline = message.get("headline") or {}
    kind = message["type"]
    if kind == "retracted":
        why = "left the filter" if message.get("reason") == "filter" else "retracted"
        return f"- {why} {headline.get('id', '?')}"
    labels = list(headline.get("labels") or [])
    if kind == "updated" and "updated" not in labels:
        labels.append("updated")
    badges = "".join(f"[{display_label(x)}] " for x in labels)
    when = f"{headline.get('date', '')} {headline.get('time', '')}"
    if kind == "corrected":
        note = message.get("correction") or {}
        at = str(note.get("at", ""))[11:16]
        return (
            f"! {when}  [Corrected {at}] {badges}{headline['title']}"
            f" (Correction: {note.get('text', '')})"
        )
    mark = "~" if kind == "updated" else "+"
    return f"{mark} {when}  {badges}{headline['title']}"


class Tail:
    """The connection loop: subscribe, print, and on any loss resume ``since`` the last event."""

    def __init__(self, base: str, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.base = base.rstrip("/")
        self.section: str | None = args.section
        self.label: str | None = args.label
        self.last: str | None = args.since
        self.hello: str | None = None
        # Article id -> its last change printed (type, version, updated_at): at least once
        # across a Redis failover, the same change can come again under a new event id.
        self.changes: OrderedDict[str, tuple[Any, ...]] = OrderedDict()
        self.as_json: bool = args.json
        self.out = out
        self.err = err

    def url(self) -> str:
        """The stream URL resuming after the last event seen."""
        params = {"since": self.last, "section": self.section, "label": self.label}
        query = urlencode({k: v for k, v in params.items() if v})
        return f"{self.base}/v1/stream" + (f"?{query}" if query else "")

    async def run(self) -> int:
        """Print events until interrupted; 1 when the service refuses the request itself."""
        attempt = 0
        while True:
            try:
                async with connect(self.url(), open_timeout=10, max_size=2**22) as ws:
                    async for raw in ws:
                        self.handle(json.loads(raw))
                        attempt = 0
                reason = "the service closed the stream"
            except InvalidStatus as exc:
                status = exc.response.status_code
                if 400 <= status < 500:
                    detail = exc.response.body.decode(errors="replace")[:300]
                    print(f"livefeed tail: refused ({status}): {detail}", file=self.err)
                    return 1
                reason = f"the service answered {status}"
            except (OSError, TimeoutError, WebSocketException) as exc:
                reason = str(exc) or type(exc).__name__
            # Full jitter, so many tails (or pages) dropped at once do not return in lock-step.
            delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))  # noqa: S311
            attempt += 1
            print(f"livefeed tail: {reason}; reconnecting in {delay:.1f}s", file=self.err)
            self.err.flush()
            await asyncio.sleep(delay)

    def _repeated(self, message: dict[str, Any]) -> bool:
        """Whether this is the article's last change printed, again (then it is not printed)."""
        headline = message.get("headline") or {}
        article_id = str(headline.get("id", ""))
        change = (message.get("type"), headline.get("version"), headline.get("updated_at"))
        if self.changes.get(article_id) == change:
            return True
        self.changes[article_id] = change
        self.changes.move_to_end(article_id)
        if len(self.changes) > MAX_CHANGES:
            self.changes.popitem(last=False)
        return False

    def handle(self, message: dict[str, Any]) -> None:
        """Print one message; remember where to resume."""
        kind = message.get("type")
        if kind == "hello":
            self.hello = str(message["event_id"])
            if self.last is None:
                self.last = str(message["event_id"])  # resume from here: nothing in between lost
            print(f"livefeed tail: connected, after event {self.last}", file=self.err)
            self.err.flush()
            return
        if kind == "reset":
            print("livefeed tail: events since the last one seen are gone; going on live",
                  file=self.err)  # fmt: skip
            self.last = self.hello  # the stream goes on from its hello
            self.changes.clear()  # what was printed may be gone: a change may rightly come again
            return
        event_id = str(message.get("event_id", ""))
        if self.last is not None and EventId.parse(event_id) <= EventId.parse(self.last):
            return  # never print one twice
        self.last = event_id
        if kind in ARTICLE_TYPES and self._repeated(message):
            return
        if self.as_json:
            line = json.dumps(message, ensure_ascii=False)
        elif kind == "summary":
            line = format_summary(message)
        elif kind in ARTICLE_TYPES:
            line = format_event(message)
        else:
            return  # a type this version does not know is skipped, as the column skips it
        print(line, file=self.out, flush=True)


def tail_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``livefeed tail`` until Ctrl-C."""
    if args.since:
        try:
            EventId.parse(args.since)
        except ValueError as exc:
            print(f"livefeed tail: --since: {exc}", file=sys.stderr)
            return 2
    tail = Tail(args.url or settings.push_url, args, sys.stdout, sys.stderr)
    try:
        return asyncio.run(tail.run())
    except KeyboardInterrupt:
        return 0
