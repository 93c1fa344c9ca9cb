"""The drafts API (issue 25) on ingest; the rules of roles are ``services/ingest/roles.py``.

- ``GET /v1/drafts?section=&author=&limit=``: the drafts, newest change first (any token; a
  section-scoped token sees its sections), and ``event_id``: the newest record of the desk's
  stream (``lf:desk:events``) already reflected, so a desk following it since then misses none.
- ``POST /v1/articles/{id}/publish`` (editor; optional ``{"version": n}``, the draft version
  reviewed): the stored draft's article queued as an ordinary write, applied only while the draft
  is still that version (then the draft is gone). A draft of an id that is not live or embargoed
  is dated when it is published (``published_at`` = now, if earlier): it goes on top.
- ``POST /v1/articles/{id}/return`` (editor; ``{"note", "version"?}``): back to its author with
  a note; it stays a draft.
- ``GET /v1/articles/{id}``: the stored record to edit (the article as posted and its draft),
  with its version (``ETag``) for ``If-Match``.
- ``PATCH`` of a draft (``patched_draft``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis.asyncio as aredis
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.ingest.intake import Posted, Verdict
from services.ingest.patching import Stored, patched_verdict, read_stored
from services.ingest.roles import last_change, require_editor, role_error
from services.ingest.validation import errors_of
from shared import keys
from shared.bodies import parse_json
from shared.dates import EPOCH, now_ms, to_ms
from shared.drafts import MAX_NOTE_CHARS, current_view, iso_ms, returned_view
from shared.models import (
    NORMALIZED,
    Article,
    section_filter,
    short_plain_text,
)
from shared.starlette_glue import NOT_CACHED, ProblemError, known_params
from shared.tokens import NAME_RULE, NamedToken, is_token_name

MAX_LIST = 200  # drafts one listing returns at most
DEFAULT_LIST = 50
_SHOWN = ("live", "embargoed")
_CHUNK = 200  # drafts read per round trip while filtering a listing


@dataclass(frozen=True)
class StoredDraft:
    """One draft as the apply script keeps it (``lf:draft:{id}``)."""

    fields: dict[str, Any]
    version: int
    section: str
    author: str | None
    by: str | None
    at: int
    returned: bytes | None

    def current(self, zone: ZoneInfo) -> dict[str, Any] | None:
        return current_view(
            {
                "version": self.version,
                "by": self.by,
                "at": self.at,
                "title": self.fields.get("title"),
            },
            zone,
        )


_DRAFT_FIELDS = ("fields", "rev", "section", "author", "by", "at", "returned")


def _text(raw: bytes | None) -> str | None:
    return raw.decode() if raw is not None else None


def _draft(raw: list[bytes | None]) -> StoredDraft | None:
    fields, rev, section, author, by, at, returned = raw
    if fields is None or rev is None:
        return None
    return StoredDraft(
        orjson.loads(fields),
        int(rev),
        _text(section) or "",
        _text(author) or None,
        _text(by) or None,
        int(at or 0),
        returned,
    )


async def read_draft(
    client: aredis.Redis, article_id: str
) -> tuple[StoredDraft | None, str | None]:
    """The id's draft (None: none) and its article record's state (None: none)."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.hmget(keys.draft(article_id), *_DRAFT_FIELDS)
        pipe.hget(keys.article(article_id), "state")
        draft, state = await pipe.execute()
    return _draft(draft), _text(state)


def draft_view(
    article_id: str, draft: StoredDraft, state: str | None, zone: ZoneInfo
) -> dict[str, Any]:
    """One draft as GET /v1/drafts lists it."""
    f = draft.fields
    return {
        "id": article_id,
        "title": f.get("title"),
        "url": f.get("url"),
        "section": f.get("section"),
        "labels": f.get("labels") or [],
        "language": f.get("language"),
        "urgency": f.get("urgency"),
        "pinned": bool(f.get("pinned")),
        "embargoed_until": f.get("embargoed_until"),
        "published_at": f.get("published_at"),
        "version": draft.version,
        "author": draft.author,
        "by": draft.by,
        "updated_at": iso_ms(draft.at, zone),
        "returned": returned_view(draft.returned, zone),
        "state": state,  # the id's article record (a draft of a live article), or null
        "article": f,  # every field as posted: what an edit screen starts from
    }


def _bad_query(name: str, reason: str) -> ProblemError:
    return ProblemError(
        400, f"query parameter {name!r} is not valid", errors=[{"field": name, "reason": reason}]
    )


async def list_drafts(
    request: Request, who: NamedToken, client: aredis.Redis, zone: ZoneInfo
) -> Response:
    """``GET /v1/drafts?section=&author=&limit=`` (raises ``redis.RedisError``)."""
    query = request.query_params
    known_params(query, "section", "author", "limit")
    try:
        section = section_filter(query.get("section"))
    except ValueError as exc:
        raise _bad_query("section", str(exc)) from exc
    author = query.get("author") or None
    if author is not None and not is_token_name(author):
        raise _bad_query("author", f"must be a token's name ({NAME_RULE})")
    raw_limit = query.get("limit")
    if raw_limit is None:
        limit = DEFAULT_LIST
    elif raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_LIST:
        limit = int(raw_limit)
    else:
        raise _bad_query("limit", f"must be an integer from 1 to {MAX_LIST}")
    if section is not None and not who.allows(section):
        raise ProblemError(
            403,
            f"the token {who.name} may see the drafts of {who.scope_text()} only",
            errors=[{"field": "section", "reason": f"forbidden: section {section!r}"}],
        )
    async with client.pipeline(transaction=True) as pipe:
        pipe.xrevrange(keys.DESK_EVENTS, count=1)
        pipe.zrevrange(keys.DRAFTS, 0, -1)
        last, ids = await pipe.execute()
    event_id = last[0][0].decode() if last else "0-0"
    out: list[dict[str, Any]] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = [raw.decode() for raw in ids[start : start + _CHUNK]]
        async with client.pipeline(transaction=False) as pipe:
            for article_id in chunk:
                pipe.hmget(keys.draft(article_id), *_DRAFT_FIELDS)
                pipe.hget(keys.article(article_id), "state")
            replies = await pipe.execute()
        for i, article_id in enumerate(chunk):
            draft = _draft(replies[2 * i])
            if draft is None:  # published or discarded since the index was read
                continue
            if not who.allows(draft.section or None) and who.sections:
                continue
            if section is not None and draft.section != section:
                continue
            if author is not None and draft.author != author:
                continue
            out.append(draft_view(article_id, draft, _text(replies[2 * i + 1]), zone))
            if len(out) == limit:
                break
        if len(out) == limit:
            break
    return JSONResponse({"drafts": out, "event_id": event_id}, headers=NOT_CACHED)


def _body_object(body: bytes, example: str) -> dict[str, Any]:
    if not body.strip():
        return {}
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise ProblemError(
            422,
            f"the body is a JSON object: {example}",
            errors=[{"field": "body", "reason": f"must be an object such as {example}"}],
        )
    return payload


def _reviewed(payload: dict[str, Any]) -> int | None:
    """The optional ``version``: the draft version the editor reviewed."""
    version = payload.get("version")
    if version is None:
        return None
    if type(version) is not int or not 1 <= version <= 2**53:
        raise ProblemError(
            422,
            "version is the draft version reviewed (GET /v1/drafts)",
            errors=[{"field": "version", "reason": "must be an integer of at least 1"}],
        )
    return version


def _no_draft(article_id: str) -> ProblemError:
    return ProblemError(
        404,
        "no draft with this id (published, discarded, or never saved)",
        errors=[{"field": "id", "reason": f"no draft {article_id!r}"}],
    )


def _guarded(
    verdict: Verdict, who: NamedToken, draft: StoredDraft, reviewed: int | None, zone: ZoneInfo
) -> bool:
    """Refuse a draft of another section, or answer ``stale`` when the draft is no longer the
    version reviewed; True when the verdict is settled so."""
    where = who.refusal(draft.section, None)
    if where is not None:
        verdict.forbid(who, where)
        return True
    if reviewed is not None and reviewed != draft.version:
        verdict.status = "stale"
        verdict.if_rev = reviewed
        verdict.current = draft.current(zone)
        return True
    return False


def publish_builder(
    client: aredis.Redis, who: NamedToken, article_id: str, body: bytes, zone: ZoneInfo
) -> Callable[[], Awaitable[Posted]]:
    """``POST /v1/articles/{id}/publish``: the request's one item (Writes.submit queues it)."""
    require_editor(who, "publish")
    reviewed = _reviewed(_body_object(body, '{"version": 3}'))

    async def build() -> Posted:
        draft, state = await read_draft(client, article_id)
        if draft is None:
            raise _no_draft(article_id)
        verdict = Verdict(index=0, op="publish", article_id=article_id, publish_rev=draft.version)
        if not _guarded(verdict, who, draft, reviewed, zone):
            # The draft was stored normalized: checked again as such ("&lt;b&gt;" was kept as
            # the text "<b>", which a second pass would strip to nothing).
            fields = dict(draft.fields)
            trusted = {NORMALIZED: True}
            now = now_ms()
            try:
                article = Article.model_validate(fields, context=trusted)
                if state not in _SHOWN and to_ms(article.published_at) < now:
                    # A first publication: it goes on top, at the moment it is published.
                    fields["published_at"] = _iso(now)
                    fields.pop("updated_at", None)
                    article = Article.model_validate(fields, context=trusted)
                verdict.article = article
            except ValidationError as exc:
                verdict.status = "rejected"
                verdict.errors = errors_of(exc)
        return Posted("json", [verdict], batch=False)

    return build


def return_builder(
    client: aredis.Redis, who: NamedToken, article_id: str, body: bytes, zone: ZoneInfo
) -> Callable[[], Awaitable[Posted]]:
    """``POST /v1/articles/{id}/return``: ``{"note": "...", "version"?: n}``."""
    require_editor(who, "return a draft")
    example = '{"note": "Source? Add the ministry\'s statement."}'
    payload = _body_object(body, example)
    raw = payload.get("note")
    note = short_plain_text(raw, MAX_NOTE_CHARS)
    if note is None:
        raise ProblemError(
            422,
            "a returned draft needs a note for its author",
            errors=[
                {
                    "field": "note",
                    "reason": f"required: plain text of 1-{MAX_NOTE_CHARS} characters",
                }
            ],
        )
    reviewed = _reviewed(payload)

    async def build() -> Posted:
        draft, _state = await read_draft(client, article_id)
        if draft is None:
            raise _no_draft(article_id)
        verdict = Verdict(index=0, op="return", article_id=article_id, note=note)
        if not _guarded(verdict, who, draft, reviewed, zone):
            verdict.if_rev = reviewed
        return Posted("json", [verdict], batch=False)

    return build


def _iso(ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=ms)).astimezone(UTC).isoformat()


async def patched_draft(
    client: aredis.Redis, article_id: str, patch: dict[str, Any], who: NamedToken
) -> Verdict | None:
    """The verdict of a PATCH that changes a draft, or None when it changes the stored article
    (``services/ingest/patching.py``). A contributor's patch changes the draft, always; an
    editor's changes the draft when it says ``"status": "draft"`` or the id has no live or
    embargoed article. The patch applies only while the draft is the version it was merged
    onto (else ``stale``), and the result is a draft: publish it with POST …/publish."""
    draft, state = await read_draft(client, article_id)
    if not who.is_editor:
        if state is not None:
            raise ProblemError(
                403,
                f"the token {who.name} is a contributor: it may change drafts only, not an "
                f"article that is {state}; nothing was changed",
                errors=[role_error(who, f"change an article that is {state}")],
            )
        if draft is None:
            raise _no_draft(article_id)
    elif draft is None or (patch.get("status") != "draft" and state in _SHOWN):
        return None
    assert draft is not None
    if patch.get("status") == "published":
        raise ProblemError(
            422,
            "a patch changes the draft; publish it with POST /v1/articles/{id}/publish",
            errors=[{"field": "status", "reason": "a draft's patch keeps it a draft"}],
        )
    rank = Article.model_validate(draft.fields, context={NORMALIZED: True}).rank()
    stored = Stored(draft.fields, rank, draft.section)
    verdict = patched_verdict(stored, {k: v for k, v in patch.items() if k != "status"}, article_id)
    verdict.base = None  # guarded by the draft's version instead
    verdict.draft = True
    verdict.if_rev = draft.version
    where = who.refusal(draft.section, None)
    if where is not None:
        verdict.forbid(who, where)
    return verdict


async def get_article(
    request: Request, article_id: str, client: aredis.Redis, zone: ZoneInfo, who: NamedToken
) -> Response:
    """``GET /v1/articles/{id}`` on ingest: what an editor edits, with its version (ETag).

    A section-scoped token sees only what it may change: a draft, or an article record, of
    another section is left out (both: 404, as for an unknown id)."""
    draft, state = await read_draft(client, article_id)
    rev, section = await client.hmget(keys.article(article_id), "rev", "section")
    if draft is not None and who.refusal(draft.section, None) is not None:
        draft = None
    stored_section = section.decode() if isinstance(section, bytes) else section
    if state is not None and stored_section is not None and who.refusal(stored_section, None):
        state, rev = None, None
    if draft is None and state is None:
        raise ProblemError(
            404, "no article or draft with this id", errors=[{"field": "id", "reason": "unknown"}]
        )
    article: dict[str, Any] | None = None
    if state in _SHOWN:
        stored = await read_stored(client, article_id)
        doc = await client.hget(keys.article(article_id), "doc")
        headline: dict[str, Any] = orjson.loads(doc) if doc else {}
        article = {
            **stored.fields,
            "pinned": bool(headline.get("pinned")),
            "corrections": headline.get("corrections") or [],
        }
    by, at = await last_change(client, article_id) if state is not None else (None, None)
    version = int(rev) if rev is not None else None
    headers = dict(NOT_CACHED)
    if version is not None:
        headers["ETag"] = f'"{version}"'
    return JSONResponse(
        {
            "id": article_id,
            "state": state,
            "version": version,
            "by": by,
            "at": iso_ms(at, zone) if at else None,
            "article": article,
            "draft": draft_view(article_id, draft, state, zone) if draft else None,
        },
        headers=headers,
    )
