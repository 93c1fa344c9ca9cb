"""The live summary: a short plain-text summary an editor keeps at the top of the column, for the
whole feed or one section and/or edition. The rules every service applies to it, defined here.

- **Text:** plain text (markup stripped and entities decoded as titles are,
  ``shared.models.plain_text``), 1-``MAX_LIVE_SUMMARY_CHARS`` characters once trimmed, in
  paragraphs: a blank line (or a ``<p>``/``<br>`` tag) separates two; white space inside a
  paragraph is folded to single spaces. Stored with the paragraphs joined by one blank line.
- **Scope:** ``section`` (a slug, as an article's) and ``lang`` (a language tag, as an article's
  ``language``, kept as its edition: ``uk-UA`` → ``uk``), each optional: none is the whole feed,
  every edition. At most one summary per scope (``shared.keys.summary``).
- **Which one a view shows** (``candidates``): the most specific scope that holds a summary,
  of ``(section, edition)``, ``(section, any)``, ``(feed, edition)``, ``(feed, any)``, for the
  view's ``section`` and ``lang`` filters (a view without one of them skips the scopes that name
  it; labels play no part). static/summary.js applies the same order to the stream's frames.
- **Who may set it:** any token may set the summary of a section it may post to; only a token
  without sections may set a summary for the whole feed (``NamedToken.allows``). (Roles arrive
  with the desk: today every token is an editor.)

Changing or deleting a summary appends one ``summary`` event to the log in the same atomic step
(shared/lua/summary.lua, run by ingest): the push service sends it as a frame, the feed
drops its views, the purger purges the scope's edge key (``shared.edgekeys.summary_key``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
import redis.asyncio as aredis
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared import keys
from shared.history import recorded
from shared.i18n import edition
from shared.models import (
    LANGUAGE_RULE,
    MAX_RAW_TEXT_CHARS,
    is_language,
    plain_text,
    section_slug,
)

MAX_LIVE_SUMMARY_CHARS = 1000  # the stored text, paragraph breaks included
HISTORY_ENTRIES = 1000  # entries kept per scope (the newest)
PARAGRAPH_BREAK = "\n\n"

# A blank line (white space only between two line breaks), or a paragraph or line-break tag.
_BREAK = re.compile(r"\r\n?|<\s*/?\s*(?:p|br)\b[^>]*>", re.IGNORECASE)
_BLANK_LINE = re.compile(r"\n\s*\n")


def summary_text(value: str) -> str:
    """The summary as stored: plain-text paragraphs joined by one blank line (ValueError when
    nothing is left or it is too long)."""
    unified = _BREAK.sub(lambda m: "\n" if m.group(0).startswith("\r") else "\n\n", value)
    paragraphs = [text for part in _BLANK_LINE.split(unified) if (text := plain_text(part))]
    text = PARAGRAPH_BREAK.join(paragraphs)
    if not text:
        raise ValueError("must not be empty once markup and spaces are removed")
    if len(text) > MAX_LIVE_SUMMARY_CHARS:
        raise ValueError(f"must be at most {MAX_LIVE_SUMMARY_CHARS} characters of plain text")
    return text


def scope_edition(value: str) -> str:
    """A summary's ``lang``: a language tag, kept as its edition (``uk-UA`` → ``uk``)."""
    if not is_language(value):
        raise ValueError(f"must be {LANGUAGE_RULE}")
    return edition(value)


class SummaryScope(BaseModel):
    """A scope as a body names it (``DELETE /v1/summary``). Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    section: Annotated[str, AfterValidator(section_slug)] | None = None
    lang: Annotated[str, AfterValidator(scope_edition)] | None = None


class SummaryBody(SummaryScope):
    """``PUT /v1/summary``: the text and its scope."""

    text: Annotated[str, Field(max_length=MAX_RAW_TEXT_CHARS), AfterValidator(summary_text)]


@dataclass(frozen=True)
class Scope:
    """Where a summary holds: a section and an edition, None for all of them."""

    section: str | None = None
    lang: str | None = None

    @property
    def key(self) -> str:
        return keys.summary(self.section, self.lang)

    @property
    def history_key(self) -> str:
        return keys.summary_history(self.section, self.lang)

    def name(self) -> dict[str, str | None]:
        """``{"section", "lang"}`` as the API and the frames write a scope."""
        return {"section": self.section, "lang": self.lang}


def candidates(section: str | None, lang: str | None) -> list[Scope]:
    """The scopes a view filtered on ``section`` and edition ``lang`` may show, the most
    specific first (the view shows the first that holds a summary)."""
    sections = (section, None) if section else (None,)
    langs = (lang, None) if lang else (None,)
    # (section, lang), (section, any), (feed, lang), (feed, any)
    return [Scope(s, lg) for s in sections for lg in langs]


@dataclass(frozen=True)
class ScopeState:
    """One scope as stored: its summary (None: none, or deleted) and the event of its last
    change ('' when it never had one)."""

    scope: Scope
    summary: dict[str, Any] | None
    event_id: str

    def data(self) -> dict[str, Any]:
        """For the column's client (static/summary.js): the scope, its last event, its summary."""
        return {**self.scope.name(), "event_id": self.event_id, "summary": self.summary}


async def read_scopes(
    client: aredis.Redis, section: str | None, lang: str | None
) -> list[ScopeState]:
    """The stored state of each candidate scope of a view (``candidates``) that ever held a
    summary, the most specific first; one round trip."""
    scopes = candidates(section, lang)
    async with client.pipeline(transaction=False) as pipe:
        for scope in scopes:
            pipe.hmget(scope.key, "doc", "eid")
        replies = await pipe.execute()
    states = []
    for scope, (doc, eid) in zip(scopes, replies, strict=True):
        if eid is None and doc is None:
            continue
        summary = orjson.loads(doc) if doc else None
        states.append(ScopeState(scope, summary, _text(eid) if eid else ""))
    return states


def effective(states: list[ScopeState]) -> dict[str, Any] | None:
    """What the view shows: the most specific scope's summary (None: no summary)."""
    for state in states:
        if state.summary is not None:
            return state.summary
    return None


def summary_doc(text: str, by: str, scope: Scope, zone: ZoneInfo, now_ms: int) -> dict[str, Any]:
    """The public form: ``{text, updated_at (the newsroom's zone), by, section, lang}``."""
    at = datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(zone)
    return {
        "text": text,
        "updated_at": at.isoformat(timespec="seconds"),
        "by": by,
        **scope.name(),
    }


def history_view(raw: bytes | str, zone: ZoneInfo) -> dict[str, Any]:
    """One stored history entry as the API shows it: ``at`` in the newsroom's zone."""
    return recorded(raw, zone, ("text", "request_id"))[1]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
