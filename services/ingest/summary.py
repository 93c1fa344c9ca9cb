"""``PUT``/``DELETE /v1/summary`` and ``GET /v1/summary/history``: the live summary.

The rules (text, scope, which view shows which) are ``shared.summary``'s. A write runs one
script (shared/lua/summary.lua) that stores the summary, records it in the scope's
history and appends its one ``summary`` event, atomically, and answers at once: there is no
job to wait for. Bad input is a problem naming the field, and nothing is stored or sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import redis
import redis.asyncio as aredis
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.ingest.roles import role_error
from services.ingest.validation import errors_of
from services.ingest.writes import not_replicated, redis_down
from shared import keys
from shared.bodies import parse_json, read_body
from shared.dates import now_ms
from shared.lua import script
from shared.models import lang_filter, section_filter
from shared.redis_client import NotReplicatedError
from shared.settings import Settings
from shared.starlette_glue import NOT_CACHED, ProblemError, known_params, problem, request_id
from shared.summary import (
    HISTORY_ENTRIES,
    Scope,
    SummaryBody,
    SummaryScope,
    history_view,
    summary_doc,
)
from shared.tokens import NamedToken

SUMMARY_LUA = script("events.lua") + script("summary.lua")
SCOPE_PARAMS = ("section", "lang")


def invalid(errors: list[dict[str, str]]) -> Response:
    """422: the summary is not valid (each bad field named); nothing was stored."""
    return problem(
        422, "the summary is not valid; nothing was changed", errors=errors, title="Invalid summary"
    )


def query_scope(query: Mapping[str, str]) -> Scope:
    """``?section=&lang=`` (each optional: absent or empty is every one); 400 naming a bad one,
    or one it does not know."""
    known_params(query, *SCOPE_PARAMS)
    try:
        section = section_filter(query.get("section"))
    except ValueError as exc:
        raise ProblemError(
            400, "query parameter 'section' is not valid", errors=[_error("section", exc)]
        ) from exc
    try:
        lang = lang_filter(query.get("lang"))
    except ValueError as exc:
        raise ProblemError(
            400, "query parameter 'lang' is not valid", errors=[_error("lang", exc)]
        ) from exc
    return Scope(section, lang)


def _error(field: str, exc: ValueError) -> dict[str, str]:
    return {"field": field, "reason": str(exc)}


def forbidden(who: NamedToken, scope: Scope) -> ProblemError | None:
    """403 unless ``who`` may change this scope's summary: a token limited to sections may
    change the summaries of those sections only, never the whole feed's; a contributor none
    (``services/ingest/roles.py``)."""
    if not who.is_editor:
        return ProblemError(
            403,
            f"the token {who.name} is a contributor: it may not change the live summary; "
            "nothing was changed",
            errors=[role_error(who, "change the live summary")],
        )
    if who.allows(scope.section):
        return None
    where = f"section {scope.section!r}" if scope.section else "the whole feed"
    return ProblemError(
        403,
        f"the token {who.name} may change the summaries of {who.scope_text()} only, "
        f"not of {where}; nothing was changed",
        errors=[{"field": "section", "reason": f"forbidden: {where}"}],
    )


class Summaries:
    """The handlers (the token is checked by the caller, who passes it on)."""

    def __init__(self, settings: Settings, client: aredis.Redis) -> None:
        self.settings = settings
        self.client = client
        self._script = client.register_script(SUMMARY_LUA)

    async def put(self, request: Request, who: NamedToken) -> Response:
        """``PUT /v1/summary``: ``{"text", "section"?, "lang"?}``."""
        payload = parse_json(await read_body(request, self.settings.max_body_bytes))
        if not isinstance(payload, dict):
            return invalid([{"field": "body", "reason": 'must be an object: {"text": "..."}'}])
        try:
            body = SummaryBody.model_validate(payload)
        except ValidationError as exc:
            return invalid(errors_of(exc))
        scope = Scope(body.section, body.lang)
        refusal = forbidden(who, scope)
        if refusal is not None:
            raise refusal
        now = now_ms()
        doc = summary_doc(body.text, who.name, scope, self.settings.zone, now)
        rid = request_id(request.scope)
        entry = {"at": now, "by": who.name, "action": "set", "text": body.text, "request_id": rid}
        return await self._run("put", scope, body.text, doc, entry, rid, now)

    async def delete(self, request: Request, who: NamedToken) -> Response:
        """``DELETE /v1/summary?section=&lang=`` (or the scope as a JSON body)."""
        raw = await read_body(request, self.settings.max_body_bytes)
        if raw.strip():
            if request.query_params:
                both = "name the scope in the query or the body, not both"
                return invalid([{"field": "body", "reason": both}])
            payload = parse_json(raw)
            if not isinstance(payload, dict):
                return invalid([{"field": "body", "reason": 'must be an object: {"section": …}'}])
            try:
                named = SummaryScope.model_validate(payload)
            except ValidationError as exc:
                return invalid(errors_of(exc))
            scope = Scope(named.section, named.lang)
        else:
            scope = query_scope(request.query_params)
        refusal = forbidden(who, scope)
        if refusal is not None:
            raise refusal
        now = now_ms()
        rid = request_id(request.scope)
        entry = {"at": now, "by": who.name, "action": "deleted", "request_id": rid}
        return await self._run("delete", scope, "", None, entry, rid, now)

    async def history(self, request: Request) -> Response:
        """``GET /v1/summary/history?section=&lang=``: the scope's summaries, oldest first."""
        scope = query_scope(request.query_params)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.lrange(scope.history_key, 0, -1)
                pipe.hget(scope.key, "doc")
                raw, current = await pipe.execute()
        except redis.RedisError as exc:
            raise redis_down() from exc
        entries = [history_view(entry, self.settings.zone) for entry in raw]
        summary = orjson.loads(current) if current else None
        return JSONResponse(
            {**scope.name(), "summary": summary, "history": entries}, headers=NOT_CACHED
        )

    async def _run(
        self,
        op: str,
        scope: Scope,
        text: str,
        doc: dict[str, Any] | None,
        entry: dict[str, Any],
        rid: str,
        now: int,
    ) -> Response:
        replicas = self.settings.redis_min_replicas
        args: list[str | int] = [
            op,
            text,
            orjson.dumps(doc).decode() if doc is not None else "",
            orjson.dumps(entry).decode(),
            self.settings.history_days * 86_400,
            HISTORY_ENTRIES,
            self.settings.stream_maxlen,
            scope.section or "",
            scope.lang or "",
            rid,
            now,
        ]
        script_keys = [scope.key, scope.history_key, keys.EVENTS, keys.EVENTS_HORIZON]
        try:
            if replicas:
                # As the worker's apply: WAIT on the script's own connection, or 503 (the
                # change may still stand; a retry of the same text changes nothing).
                async with self.client.pipeline(transaction=False) as pipe:
                    await self._script(keys=script_keys, args=args, client=pipe)
                    pipe.execute_command("WAIT", replicas, self.settings.redis_wait_ms)
                    reply, acks = await pipe.execute()
                if int(acks) < replicas:
                    raise NotReplicatedError(int(acks), replicas, "the summary")
            else:
                reply = await self._script(keys=script_keys, args=args)
        except NotReplicatedError as exc:
            raise not_replicated(exc, self.settings.redis_wait_ms) from exc
        except redis.RedisError as exc:
            raise redis_down() from exc
        outcome, event_id, current = (_text(part) for part in reply)
        return JSONResponse(
            {
                **scope.name(),
                "changed": outcome == "changed",
                "event_id": event_id or None,
                "summary": orjson.loads(current) if current else None,
                "request_id": rid,
            },
            headers=NOT_CACHED,
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
