"""From request bytes to per-item verdicts: format detection, conversion, validation, and the
early answer for items the store already holds (``unchanged``/``stale``) or that the rolling
window would not show (``expired``).

Formats: native JSON (one article, ``{"articles": [...]}`` or a JSON array), ninjs
(``application/ninjs+json``, or recognised per item by its keys in ``application/json``),
RSS 2.0 and Atom (``application/rss+xml``, ``application/atom+xml``, ``application/xml``,
``text/xml``, or a body starting with ``<`` sent without a content type).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import redis.asyncio
from pydantic import ValidationError

from services.ingest.drafts import Draft, rename
from services.ingest.ninjs import from_ninjs, is_ninjs
from services.ingest.syndication import looks_like_xml, parse_syndication
from services.ingest.validation import errors_of
from shared import keys
from shared.bodies import parse_json
from shared.dates import to_ms
from shared.models import Article
from shared.settings import Settings
from shared.starlette_glue import ProblemError
from shared.tokens import NamedToken
from shared.window import outside_window, window_floor_ms

Status = Literal["accepted", "draft", "unchanged", "stale", "expired", "rejected"]
# Every per-item answer, in the order the response counts them.
STATUSES: tuple[Status, ...] = ("accepted", "draft", "unchanged", "stale", "expired", "rejected")
# The answers of items that are queued (``draft``: queued to be saved as a draft).
QUEUED: tuple[Status, ...] = ("accepted", "draft")

JSON_TYPES = {"application/json", "application/ninjs+json"}
FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/xml", "text/xml"}


@dataclass
class Verdict:
    """One posted item: what it became, and the answer it gets."""

    index: int
    op: Literal["upsert", "retract", "publish", "return"] = "upsert"
    article_id: str | None = None
    article: Article | None = None
    source_id: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    status: Status = "accepted"
    rank: tuple[int, int] | None = None  # a versioned retraction's (version, ms)
    stored_state: str | None = None  # unchanged/stale: "retracted" or "expired" (not shown)
    base: tuple[int, int] | None = None  # a PATCH: the stored (version, ms) it was merged onto
    prefix: str = ""  # how the posted item's fields are named in errors (``articles[3].``)
    reason: str | None = None  # a retraction's reason (DELETE body, kept in the history), or
    # why an item is ``expired``
    forbidden: bool = False  # rejected because the token may not touch this section
    # Drafts and conflicts (issue 25; services/ingest/roles.py, desk_api.py):
    draft: bool = False  # saved as a draft, not published
    contributor: bool = False  # written by a contributor's token (the script checks it too)
    if_rev: int | None = None  # If-Match: the version of the record this write started from
    publish_rev: int | None = None  # a publish (op "publish"): the draft version read
    note: str | None = None  # a return's note
    current: dict[str, Any] | None = None  # ``stale`` by If-Match: the record as it is now

    def queued_item(self, who: NamedToken) -> dict[str, Any]:
        """The job payload of an accepted item: what to do, who asked (name and sections)."""
        item: dict[str, Any] = {"op": self.op, "by": who.name}
        if who.sections:
            item["scope"] = sorted(who.sections)
        if self.contributor:
            item["role"] = "contributor"
        if self.if_rev is not None:
            item["ifrev"] = self.if_rev
        if self.op == "return":
            item.update(id=self.article_id, note=self.note)
            return item
        if self.op == "retract":
            item["id"] = self.article_id
            if self.rank is not None:
                item["v"], item["u"] = self.rank
            if self.reason:
                item["reason"] = self.reason
            return item
        assert self.article is not None
        item["article"] = self.article.model_dump(mode="json", exclude_none=True)
        if self.base is not None:
            item["base"] = list(self.base)
        if self.draft:
            item["draft"] = True
        if self.op == "publish":
            item["op"] = "upsert"  # the draft's article, applied while the draft is unchanged
            item["publish"] = self.publish_rev
        return item

    def forbid(self, who: NamedToken, where: str | None = None) -> None:
        """Reject: the token's sections do not include the article's (``where``: why the
        stored record is not the token's; None: the posted article's section is not)."""
        if where is None:
            where = (
                "this section"
                if self.article is not None and self.article.section
                else "an article without a section"
            )
        self.status = "rejected"
        self.forbidden = True
        self.errors = [
            {
                "field": f"{self.prefix}section",
                "reason": f"forbidden: token {who.name!r} may only change sections "
                f"{who.scope_text()}, not {where}",
            }
        ]

    def result(self, job_id: str | None) -> dict[str, Any]:
        """The item's entry in the response's ``results``."""
        out: dict[str, Any] = {"index": self.index, "id": self.article_id, "status": self.status}
        if self.source_id is not None and self.source_id != self.article_id:
            out["source_id"] = self.source_id
        if self.op != "upsert":
            out["action"] = self.op
        if self.status in QUEUED:
            out["job_id"] = job_id
        elif self.status == "rejected":
            out["errors"] = self.errors
        elif self.status == "expired":
            out["reason"] = self.reason or "older than the rolling window: it would not show"
        else:
            out["reason"] = (
                "the stored copy has the same version"
                if self.status == "unchanged"
                else "the stored copy is newer"
            )
            if self.current is not None or (self.status == "stale" and self.if_rev is not None):
                # If-Match (or the draft version reviewed) is not the record's version now.
                out["reason"] = (
                    "changed since the version this write started from: reload, or send it "
                    "again without If-Match to overwrite"
                )
                out["current"] = self.current
            if self.stored_state == "expired":
                # Expired by the window (or LIVEFEED_MAX_ITEMS): the stored version itself
                # comes back when posted again once the window would show it.
                out["state"] = self.stored_state
                out["reason"] += (
                    ", which is expired: it shows when that version (or a newer one) is posted "
                    "once the window would show it (LIVEFEED_WINDOW_DAYS, LIVEFEED_MAX_ITEMS)"
                )
            elif self.stored_state is not None:
                # A retraction is final for its version and older ones: only a newer version
                # brings the article back. Say so rather than imply it is shown.
                out["state"] = self.stored_state
                out["reason"] += f", which is {self.stored_state}: post a newer version to show it"
        return out

    def expire(self, settings: Settings) -> None:
        """Answer ``expired``: published before the rolling window, it would not show."""
        assert self.article is not None
        published = self.article.published_at.astimezone(settings.zone).date().isoformat()
        self.status = "expired"
        self.reason = (
            f"published {published}, older than the {settings.window_days}-day window "
            "(LIVEFEED_WINDOW_DAYS): it would not show"
        )


@dataclass
class Posted:
    """A request's items, in order, and the format they came in."""

    kind: str  # json | ninjs | mixed (native and ninjs items) | rss | atom
    verdicts: list[Verdict]
    batch: bool
    if_match: int | None = None  # PUT/PATCH ``If-Match``: the version the write started from


def _native(raw: Any, index: int) -> Draft:
    draft = Draft(index=index)
    if not isinstance(raw, dict):
        draft.reject("", "must be an object")
        return draft
    draft.fields = dict(raw)
    raw_id = raw.get("id")
    draft.source_id = raw_id if isinstance(raw_id, str) else None
    return draft


def verdict_of(draft: Draft, prefix: str) -> Verdict:
    """Validate one draft; errors name the posted field under ``prefix`` (``articles[3].``)."""
    verdict = Verdict(
        index=draft.index, op=draft.op, source_id=draft.source_id, rank=draft.rank, prefix=prefix
    )
    raw_id = draft.fields.get("id")
    verdict.article_id = raw_id if isinstance(raw_id, str) else None

    def named(name: str) -> str:
        return f"{prefix}{name}" if name else prefix.rstrip(".") or "body"

    if draft.errors:
        verdict.status = "rejected"
        verdict.errors = [{"field": named(e["field"]), "reason": e["reason"]} for e in draft.errors]
        return verdict
    if draft.op == "retract":
        return verdict
    try:
        verdict.article = Article.model_validate(draft.fields)
    except ValidationError as exc:
        verdict.status = "rejected"
        verdict.errors = [
            {"field": named(rename(e["field"], draft.names)), "reason": e["reason"]}
            for e in errors_of(exc)
        ]
    return verdict


def _batch_items(payload: Any, limit: int) -> tuple[list[Any], bool]:
    if isinstance(payload, list):
        raw_items: Any = payload
    elif isinstance(payload, dict) and "articles" in payload and not {"id", "uri"} & payload.keys():
        raw_items = payload["articles"]
    else:
        return [payload], False
    if not isinstance(raw_items, list) or not raw_items:
        raise ProblemError(
            422,
            "'articles' must be a non-empty list",
            errors=[{"field": "articles", "reason": "must be a non-empty list"}],
        )
    if len(raw_items) > limit:
        raise ProblemError(
            413,
            f"a batch holds at most {limit} articles; split it",
            errors=[{"field": "articles", "reason": f"more than {limit} items"}],
        )
    return raw_items, True


def _put_id(draft: Draft, path_id: str, ninjs: bool) -> None:
    """``PUT /v1/articles/{id}``: the URL names the article; a differing body id is an error."""
    name = "uri" if ninjs else "id"
    given = draft.fields.get("id")
    if given is not None and given != path_id:
        draft.reject(name, "must equal the id in the URL")
        return
    draft.errors = [e for e in draft.errors if e["field"] != name]
    draft.fields["id"] = path_id


def posted_items(media: str, body: bytes, max_items: int, path_id: str | None = None) -> Posted:
    """Every item of a request body, converted and validated (CPU-bound: run it in a thread).

    With ``path_id`` (PUT) the body must be one item, and the URL's id is its id.
    """
    is_json = media in JSON_TYPES or media.endswith("+json")
    is_feed = media in FEED_TYPES or (not media and looks_like_xml(body))
    if is_feed and not is_json:
        if path_id is not None:
            raise ProblemError(
                415,
                "PUT takes one JSON or ninjs article; POST RSS and Atom documents",
                errors=[{"field": "content-type", "reason": "feeds are posted, not put"}],
            )
        parsed = parse_syndication(body, max_items)
        prefix = "items" if parsed.kind == "rss" else "entries"
        verdicts = [verdict_of(d, f"{prefix}[{d.index}].") for d in parsed.drafts]
        return Posted(parsed.kind, verdicts, batch=True)
    if not is_json and media:
        raise ProblemError(
            415,
            f"send JSON, ninjs, RSS or Atom, not {media}",
            errors=[{"field": "content-type", "reason": "unsupported media type"}],
        )
    payload = parse_json(body)
    raw_items, batch = _batch_items(payload, max_items) if path_id is None else ([payload], False)
    force_ninjs = media == "application/ninjs+json"
    drafts = [
        from_ninjs(raw, i)
        if isinstance(raw, dict) and (force_ninjs or is_ninjs(raw))
        else _native(raw, i)
        for i, raw in enumerate(raw_items)
    ]
    if path_id is not None and isinstance(raw_items[0], dict):
        _put_id(drafts[0], path_id, force_ninjs or is_ninjs(raw_items[0]))
    ninjs_items = sum(1 for raw in raw_items if force_ninjs or is_ninjs(raw))
    kind = "json" if not ninjs_items else "ninjs" if ninjs_items == len(raw_items) else "mixed"
    prefix = "articles[{}]." if batch else ""
    return Posted(kind, [verdict_of(d, prefix.format(d.index)) for d in drafts], batch)


# KEYS[1] the timeline, then one article key per item; ARGV[1] LIVEFEED_MAX_ITEMS. Returns the
# lowest entry an item must beat to stay in a full timeline (score, id; false, false while there
# is room: the apply script's beyond_max), then the stored (v, u, state, section, tscope) of each
# article key, flattened; false (nil) for all when the key holds no article, or something that
# is not a hash (that item is left to the worker). ``tscope``: the sections of a scoped token's
# tombstone for an id without an article.
_FIELDS = 5
_STORED_RANKS = """
local out = {false, false}
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if excess >= 0 then
  local lowest = redis.call('ZRANGE', KEYS[1], excess, excess, 'WITHSCORES')
  if #lowest == 2 then out = {lowest[2], lowest[1]} end
end
for i = 2, #KEYS do
  local fields = redis.pcall('HMGET', KEYS[i], 'v', 'u', 'state', 'section', 'tscope')
  local ok = type(fields) == 'table' and not fields.err
  for j = 1, 5 do out[2 + 5 * (i - 2) + j] = ok and fields[j] or false end
end
return out
"""


def _text(raw: bytes | None) -> str | None:
    return raw.decode() if raw is not None else None


class KnownVersions:
    """Answers at once the items the store already holds at the same or a newer version, and
    those the rolling window would not show."""

    def __init__(self, client: redis.asyncio.Redis, settings: Settings) -> None:
        self.settings = settings
        # One read-only script call for the whole request: a pipeline of one HMGET per item cost
        # a third of a 100-article request's CPU in redis-py's per-reply parsing.
        self._stored_ranks = client.register_script(_STORED_RANKS)

    async def answer(self, verdicts: list[Verdict], who: NamedToken | None = None) -> None:
        """Mark items the store already holds at the same or a newer version, and (for a token
        limited to sections) refuse items outside its sections, posted or stored (any stored
        record: live, embargoed, retracted, expired, or a tombstone; ``NamedToken.refusal``).

        The same comparison as the apply script (version or 0, then updated-or-published ms),
        read in one round trip, then the same window (``shared.window``): an item published
        before it is ``expired`` (unless it updates an article that is shown: that one is
        queued, for the worker to take the shown copy off). A record stored ``expired`` is
        judged again when the same version comes: ``expired`` while older than the window,
        queued once the window would show it (a wider ``LIVEFEED_WINDOW_DAYS``, or room under
        ``LIVEFEED_MAX_ITEMS``), else ``unchanged`` (a count-trimmed item a poller re-posts).
        It only ever answers early: the worker's atomic compare stays the authority for
        everything queued (the section check too, and the count limit).
        """
        floor = window_floor_ms(self.settings)
        scoped = who is not None and bool(who.sections)
        looked = [
            v
            for v in verdicts
            if v.status == "accepted" and (v.article is not None or (scoped and v.article_id))
        ]
        if not looked:
            return
        names = [keys.article(v.article.id if v.article else str(v.article_id)) for v in looked]
        answer = await self._stored_ranks(
            keys=[keys.TIMELINE, *names], args=[self.settings.max_items]
        )
        lowest_score, lowest_id = answer[:2]
        lowest = None if lowest_score is None else (int(float(lowest_score)), bytes(lowest_id))
        stored = answer[2:]
        for i, verdict in enumerate(looked):
            raw_v, raw_u, raw_state, raw_section, raw_tscope = stored[
                _FIELDS * i : _FIELDS * i + _FIELDS
            ]
            section = _text(raw_section)
            tombstone = (
                frozenset(raw_tscope.decode().split(","))
                if raw_tscope is not None and section is None
                else None
            )
            if (
                verdict.article is not None
                and tombstone is not None
                and (verdict.article.section or "") not in tombstone
            ):
                continue  # a scoped tombstone of other sections: as if nothing were stored
            if scoped:
                assert who is not None
                where = (
                    who.refusal(section, tombstone)
                    if raw_state is not None or raw_v is not None
                    else None
                )
                if where is not None:
                    verdict.forbid(who, where)
                    continue
                if verdict.article is not None and not who.allows(verdict.article.section):
                    verdict.forbid(who)
                    continue
            if verdict.article is None:
                continue
            published = to_ms(verdict.article.published_at)
            if raw_v is not None and raw_u is not None:
                mine = verdict.article.rank()
                theirs = (int(float(raw_v)), int(float(raw_u)))
                # The version stored as expired, judged again: by the age window below, and
                # by the count (it comes back only if it would not be trimmed at once).
                again = (
                    mine == theirs
                    and raw_state == b"expired"
                    and (
                        outside_window(published, floor)
                        or lowest is None
                        or (published, verdict.article.id.encode()) > lowest
                    )
                )
                if mine <= theirs and not again:
                    verdict.status = "unchanged" if mine == theirs else "stale"
                    if raw_state in (b"retracted", b"expired"):
                        verdict.stored_state = raw_state.decode()
                    continue
            # An update that re-dates a shown article out of the window is queued: applying it
            # takes the shown copy off every page (the job reports it expired).
            if outside_window(published, floor) and raw_state not in (b"live", b"embargoed"):
                verdict.expire(self.settings)
