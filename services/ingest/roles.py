"""Roles (issue 25): what an editor's and a contributor's token may do, answered early.

A token is an editor (every power) or a contributor (``role=contributor`` in the tokens file,
``shared.tokens``). A contributor's writes are always drafts; it may change drafts only (its
own or others'), never an id that has an article record (live, embargoed, retracted or
expired); it may not retract, publish, return, pin, set a correction, or change the live
summary. Each refusal is a 403 problem (or a per-item rejection in a batch) naming ``role``.
The apply script checks the same again when it applies (``op.role``): it is the authority.

``screen`` runs on every write before the version check (``KnownVersions``): it turns the
items that are drafts into ``draft`` answers, refuses what the role may not do, and answers a
write whose ``If-Match`` is not the stored version ``stale`` with ``current`` at once.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis.asyncio as aredis
from starlette.requests import Request

from services.ingest.intake import Posted, Verdict
from shared import keys
from shared.drafts import current_view
from shared.starlette_glue import ProblemError
from shared.tokens import NamedToken

# ``"3"``, ``W/"3"`` or ``3``: the version a write started from (documented in openapi.py).
IF_MATCH = re.compile(r'(?:W/)?"([1-9][0-9]{0,14})"|([1-9][0-9]{0,14})')

# What a history entry's action is when it changes a draft, not the article.
DRAFT_ACTIONS = frozenset({"drafted", "returned", "discarded"})


def role_error(who: NamedToken, what: str) -> dict[str, str]:
    """The error naming ``role``: this contributor may not do ``what``."""
    return {
        "field": "role",
        "reason": f"forbidden: the token {who.name!r} is a contributor: it may not {what} "
        "(drafts only; an editor publishes)",
    }


def require_editor(who: NamedToken, what: str) -> None:
    """403 naming ``role`` unless ``who`` is an editor."""
    if not who.is_editor:
        raise ProblemError(
            403,
            f"the token {who.name} is a contributor: it may not {what}; nothing was changed",
            errors=[role_error(who, what)],
        )


def forbid_role(verdict: Verdict, who: NamedToken, what: str) -> None:
    """Reject one item: its token's role may not do ``what``."""
    verdict.status = "rejected"
    verdict.forbidden = True
    verdict.errors = [role_error(who, what)]


def if_match(request: Request) -> int | None:
    """``If-Match: "<version>"`` (a draft's or an article's version; ``W/`` and no quotes
    accepted too); None without one; 400 naming ``If-Match`` when it is not a version."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    match = IF_MATCH.fullmatch(raw)
    if match is None:
        raise ProblemError(
            400,
            'If-Match names the version a write started from: If-Match: "3"',
            errors=[{"field": "If-Match", "reason": 'must be a version such as "3"'}],
        )
    return int(match.group(1) or match.group(2))


def _text(raw: bytes | None) -> str | None:
    return raw.decode() if raw is not None else None


async def last_change(client: aredis.Redis, article_id: str) -> tuple[str | None, int | None]:
    """Who last changed the article (not its draft), and when (ms): the newest such entry of
    its history (apply.lua's ``last_change``)."""
    for raw in reversed(await client.lrange(keys.history(article_id), -50, -1)):
        entry: dict[str, Any] = orjson.loads(raw)
        if entry.get("action") not in DRAFT_ACTIONS:
            return entry.get("by") or None, int(entry["at"])
    return None, None


async def screen(client: aredis.Redis, posted: Posted, who: NamedToken, zone: ZoneInfo) -> None:
    """Mark drafts, refuse what the role may not do, and answer If-Match conflicts early
    (raises ``redis.RedisError``). The apply script checks each again when it applies."""
    for v in posted.verdicts:
        if v.status != "accepted":
            continue
        if not who.is_editor:
            v.contributor = True
            if v.op != "upsert":
                forbid_role(v, who, "retract")
                continue
            assert v.article is not None
            if v.article.pinned:
                forbid_role(v, who, "pin")
                continue
            if v.article.correction:
                forbid_role(v, who, "set a correction")
                continue
            v.draft = True
        elif v.article is not None and v.article.status == "draft" and v.op == "upsert":
            v.draft = True
        if v.draft and v.article is not None and not who.allows(v.article.section):
            v.forbid(who)
            continue
        if posted.if_match is not None and v.op == "upsert":
            v.if_rev = posted.if_match
    looked = [  # (a publish's or a return's reviewed version is the draft's: desk_api.py)
        v
        for v in posted.verdicts
        if v.status == "accepted" and v.op == "upsert" and (v.draft or v.if_rev is not None)
    ]
    if looked:
        async with client.pipeline(transaction=False) as pipe:
            for v in looked:
                article_id = str(v.article_id)
                pipe.hmget(keys.article(article_id), "state", "rev", "doc")
                pipe.hmget(keys.draft(article_id), "rev", "by", "at", "title")
            replies = await pipe.execute()
        for i, v in enumerate(looked):
            state, rev, doc = replies[2 * i]
            drev, dby, dat, dtitle = replies[2 * i + 1]
            if v.contributor and state is not None:
                forbid_role(v, who, f"change an article that is {state.decode()}")
                continue
            if v.if_rev is None:
                continue
            # A draft write's If-Match names the draft's version; with no draft yet, the
            # article's (an editor drafting a change to a live item starts from the article).
            if v.draft and drev is not None:
                if int(drev) != v.if_rev:
                    v.status = "stale"
                    v.current = {
                        "version": int(drev),
                        "by": _text(dby),
                        "at": _text(dat),
                        "title": _text(dtitle),
                    }
            elif int(rev or 0) != v.if_rev:
                v.status = "stale"
                if rev is not None:
                    by, at = await last_change(client, str(v.article_id))
                    title = orjson.loads(doc).get("title") if doc else None
                    v.current = {"version": int(rev), "by": by, "at": at, "title": title}
            if v.current is not None:
                v.current = current_view(v.current, zone)
    for v in posted.verdicts:
        if v.status == "accepted" and v.draft:
            v.status = "draft"
