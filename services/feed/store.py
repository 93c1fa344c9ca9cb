"""The timeline store: articles, indexes and the event log, changed only by Lua scripts.

Writes (the worker) and reads (the feed API) each run as one script call, so the timeline and
the event log are always seen in agreement.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson
import redis
import redis.asyncio as aredis

from shared import keys
from shared.dates import now_ms, to_ms
from shared.drafts import DESK_EVENTS_MAXLEN
from shared.lua import script
from shared.models import ID_PATTERN, MAX_CORRECTIONS, Article, article_edition
from shared.redis_client import NotReplicatedError
from shared.settings import Settings
from shared.summary import ScopeState, read_scopes
from shared.window import DAY_MS, outside_window, window_floor_ms

_SCORE = re.compile(r"^-?[0-9]{1,15}$")  # ms within years 1-9999
_ID = re.compile(ID_PATTERN)
TOMBSTONE_TTL_S = 7 * 24 * 3600  # a retraction is remembered this long against late copies


def _script(name: str) -> str:
    return resources.files("services.feed.lua").joinpath(name).read_text(encoding="utf-8")


# Each write script is prepended with the one way to append an event (events.lua).
EVENTS_LUA = script("events.lua")  # shared/lua: the live summary's script starts with it too
APPLY_LUA = EVENTS_LUA + _script("apply.lua")
READ_LUA = _script("read.lua")
# around.lua reads the page below its anchor with read.lua's own text, as a function.
AROUND_LUA = _script("around.lua").replace(
    "--@read.lua", f"local function read_page()\n{READ_LUA}\nend", 1
)


def correction_note(text: str, settings: Settings, now: datetime | None = None) -> str:
    """A correction as kept on the item: ``{"text", "at"}`` (the newsroom's local time)."""
    moment = (now or datetime.now(UTC)).astimezone(settings.zone).replace(microsecond=0)
    return orjson.dumps({"text": text, "at": moment.isoformat()}).decode()


def upsert_op(article: Article, settings: Settings, request_id: str = "") -> dict[str, Any]:
    """The operation the apply script takes for a create or update.

    ``doc`` is the headline without ``corrections``: the script adds the list it keeps (the
    stored notes plus ``corr``, this write's note, if any) so that notes accumulate atomically.
    """
    version, moment = article.rank()
    headline = article.headline(settings.zone)
    return {
        "op": "upsert",
        "id": article.id,
        "v": version,
        "u": moment,
        "pub": to_ms(article.published_at),
        "section": article.section or "",
        # Indexed labels include the derived "breaking", so ?label=breaking works everywhere.
        "labels": ",".join(headline["labels"]),
        "lang": article_edition(article.language, settings.language),
        "doc": orjson.dumps(headline).decode(),
        "embargo": to_ms(article.embargoed_until) if article.embargoed_until else 0,
        "rid": request_id,
        "corr": correction_note(article.correction, settings) if article.correction else "",
        **({} if article.pinned is None else {"pin": article.pinned}),
    }


def retract_op(
    article_id: str, request_id: str = "", rank: tuple[int, int] | None = None
) -> dict[str, Any]:
    """The operation the apply script takes for a retraction.

    ``rank`` (version, ms) makes it versioned (a canceled ninjs item): ignored as ``stale`` when
    the stored copy is newer, and kept on the tombstone against older copies arriving later.
    """
    op: dict[str, Any] = {"op": "retract", "id": article_id, "rid": request_id}
    if rank is not None:
        op["v"], op["u"] = rank
    return op


RELEASE_OP: dict[str, Any] = {"op": "release"}


def _floor_arg(floor: int | None) -> str:
    return "" if floor is None else str(floor)


class TimelineWriter:
    """Applies batches of operations atomically (used by the RQ worker)."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._apply = client.register_script(APPLY_LUA)

    def apply(self, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply ``ops`` in one script call; return one outcome per upsert/retract."""
        now = now_ms()
        replicas = self.settings.redis_min_replicas
        pipe = self.client.pipeline(transaction=False) if replicas else None
        raw = self._apply(
            client=pipe,
            keys=[
                keys.TIMELINE,
                keys.EVENTS,
                keys.EVENTS_HORIZON,
                keys.EMBARGO,
                keys.CHANGED,
                keys.EDITIONS_INDEXED,
                keys.DRAFTS,
                keys.DESK_EVENTS,
            ],
            args=[
                keys.ARTICLE_PREFIX,
                keys.SECTION_PREFIX,
                keys.LABEL_PREFIX,
                now,
                _floor_arg(window_floor_ms(self.settings, now)),
                self.settings.max_items,
                self.settings.stream_maxlen,
                TOMBSTONE_TTL_S,
                MAX_CORRECTIONS,
                keys.HISTORY_PREFIX,
                self.settings.history_days * 86_400,
                keys.PINNED_PREFIX,
                keys.PINNED,
                self.settings.max_pinned,
                json.dumps(ops, separators=(",", ":")),
                keys.LANG_PREFIX,
                self.settings.language,
                keys.DRAFT_PREFIX,
                DESK_EVENTS_MAXLEN,
            ],
        )
        if pipe is not None:
            # WAIT on the script's own connection: the apply is on `replicas` machines, or the
            # job fails (and RQ retries it: a rerun is `unchanged` where the write survived,
            # and applies it again on a new primary that never got it).
            pipe.execute_command("WAIT", replicas, self.settings.redis_wait_ms)  # type: ignore[no-untyped-call]
            raw, acks = pipe.execute()
            if int(acks) < replicas:
                raise NotReplicatedError(int(acks), replicas, f"{len(ops)} applied op(s)")
        result: list[dict[str, Any]] = json.loads(raw)
        return result


@dataclass(frozen=True)
class Cursor:
    """Where "More news" continues: just below this (published ms, id)."""

    score: int
    article_id: str

    def encode(self) -> str:
        """The opaque ``next`` value handed to clients."""
        return f"{self.score}~{self.article_id}"

    @classmethod
    def decode(cls, raw: str) -> Cursor:
        """Parse a ``before`` value; raises ValueError when it is not one we made."""
        score, sep, article_id = raw.partition("~")
        # Scores are published ms: negative before 1970.
        if not sep or not _SCORE.match(score) or not _ID.match(article_id):
            raise ValueError("not a cursor from a previous 'next'")
        return cls(int(score), article_id)


@dataclass(frozen=True)
class Page:
    """One page of headlines, newest first, and the last event it reflects."""

    event_id: str
    headlines: list[dict[str, Any]]
    next: Cursor | None
    changed_ms: int = 0  # the last change no event announces (a window trim), 0 if none
    pinned: list[dict[str, Any]] = field(default_factory=list)  # first page: newest pin first
    ages_out_ms: int | None = None  # when the next item leaves the window (None: none will)
    # The live summaries it may show (shared/summary.py), read after the page: at least as new.
    summaries: list[ScopeState] = field(default_factory=list)


@dataclass(frozen=True)
class AroundPage(Page):
    """The timeline around one headline (``?at=``): ``headlines`` are the newer ones, the anchor
    and a page of older ones, newest first (``next`` goes on below); or, when the view does not
    show it, the newest page and why (``status``: ``retracted``, ``expired`` or ``unknown``).
    An ``after`` read (``?after=``) has only the newer headlines and no status."""

    status: str = ""
    anchor: str = ""  # the id asked for
    newer: Cursor | None = None  # where "Newer headlines" goes on (None: the newest are shown)

    @property
    def found(self) -> bool:
        return self.status == "found"


class TimelineReader:
    """Reads pages of the timeline (used by the feed API)."""

    def __init__(self, client: aredis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._read = client.register_script(READ_LUA)
        self._read_around = client.register_script(AROUND_LUA)

    async def page(
        self,
        *,
        limit: int,
        before: Cursor | None = None,
        section: str | None = None,
        label: str | None = None,
        lang: str | None = None,
    ) -> Page:
        """One page of the (optionally filtered) timeline with the event id read atomically.

        ``lang``: an edition (``shared.i18n.edition``); its own index is paged when it is the
        only filter, else the items of the label's or section's index are checked for it.
        """
        reply = await self._read(
            keys=_read_keys(section, label, lang),
            args=self._read_args(before, limit, section, label, lang),
        )
        return _page(reply, await read_scopes(self.client, section, lang))

    def _read_args(
        self,
        before: Cursor | None,
        limit: int,
        section: str | None,
        label: str | None,
        lang: str | None,
    ) -> list[str | int]:
        """read.lua's ARGV: the filters its index (``_read_keys``) does not imply are checked
        on each item."""
        also_section = (section or "") if label else ""
        also_lang = "" if lang and not (label or section) else lang or ""
        return [
            keys.ARTICLE_PREFIX,
            _floor_arg(window_floor_ms(self.settings)),
            str(before.score) if before else "",
            before.article_id if before else "",
            limit,
            also_section,
            self.settings.window_days * DAY_MS,
            label or "",
            also_lang,
            lang or "",
            self.settings.language,
        ]

    async def around(
        self,
        anchor: str,
        *,
        newer: int,
        limit: int,
        section: str | None = None,
        label: str | None = None,
        lang: str | None = None,
    ) -> AroundPage:
        """Up to ``newer`` headlines above ``anchor``, the anchor, and ``limit`` below it (a
        permalink), in the filtered view, with the event id read atomically. An anchor the view
        does not show gives the first page, and why (``AroundPage.status``)."""
        return await self._around(anchor, None, newer, limit, section, label, lang)

    async def after(
        self,
        cursor: Cursor,
        *,
        limit: int,
        section: str | None = None,
        label: str | None = None,
        lang: str | None = None,
    ) -> AroundPage:
        """The ``limit`` headlines just above ``cursor`` (a previous ``newer``), newest first,
        and where newer ones go on (None: these reach the newest)."""
        return await self._around("", cursor, limit, 0, section, label, lang)

    async def _around(
        self,
        anchor: str,
        after: Cursor | None,
        newer: int,
        limit: int,
        section: str | None,
        label: str | None,
        lang: str | None,
    ) -> AroundPage:
        reply = await self._read_around(
            keys=_read_keys(section, label, lang),
            args=[
                *self._read_args(None, limit, section, label, lang),
                anchor,
                newer,
                str(after.score) if after else "",
                after.article_id if after else "",
                section or "",
                keys.HISTORY_PREFIX,
            ],
        )
        status, anchor_doc, newer_docs, newer_score, newer_id = reply[7:]
        page = _page(reply[:7])
        above = [orjson.loads(doc) for doc in newer_docs]
        here = [orjson.loads(anchor_doc)] if anchor_doc else []
        return AroundPage(
            page.event_id,
            [*above, *here, *page.headlines],
            page.next,
            page.changed_ms,
            page.pinned,
            page.ages_out_ms,
            await read_scopes(self.client, section, lang),
            status=_text(status),
            anchor=anchor,
            newer=_cursor(newer_score, newer_id),
        )

    async def article(self, article_id: str) -> tuple[dict[str, Any] | None, int | None]:
        """One live article's headline, or None (unknown, embargoed, retracted or expired), and
        when it leaves the window (None: never)."""
        doc, state, pub = await self.client.hmget(keys.article(article_id), "doc", "state", "pub")
        if doc is None or state is None or _text(state) != "live":
            return None, None
        floor = window_floor_ms(self.settings)
        pub_ms = int(_text(pub)) if isinstance(pub, bytes | str) else None
        if floor is None or pub_ms is None:
            return orjson.loads(doc), None
        if outside_window(pub_ms, floor):
            return None, None
        return orjson.loads(doc), pub_ms + self.settings.window_days * DAY_MS


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _cursor(score: str | bytes, article_id: str | bytes) -> Cursor | None:
    return Cursor(int(float(_text(score))), _text(article_id)) if score else None


def _read_keys(section: str | None, label: str | None, lang: str | None) -> list[str]:
    """read.lua's KEYS: the index a view pages (a label's, else a section's, else an
    edition's, else the whole timeline's), the event log, the last change, the pins."""
    if label:
        index = keys.label(label)
    elif section:
        index = keys.section(section)
    elif lang:
        index = keys.lang(lang)
    else:
        index = keys.TIMELINE
    return [index, keys.EVENTS, keys.CHANGED, keys.pinned(section) if section else keys.PINNED]


def _page(reply: list[Any], summaries: list[ScopeState] | None = None) -> Page:
    """A page from read.lua's answer, and the live summaries it may show (read after it)."""
    event_id, docs, next_score, next_id, changed, pinned, ages_out = reply
    return Page(
        _text(event_id),
        [orjson.loads(doc) for doc in docs],
        _cursor(next_score, next_id),
        int(_text(changed)),
        [orjson.loads(doc) for doc in pinned],
        int(_text(ages_out)) if ages_out else None,
        summaries or [],
    )
