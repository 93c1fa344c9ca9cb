"""The write endpoints of ingest: POST, PUT, PATCH and DELETE of articles in every format.

Every request answers per item (``results``):

- ``accepted`` (with ``job_id``): queued; ``GET /v1/jobs/{job_id}`` reports what applying did
- ``unchanged`` / ``stale``: the store already holds this version or a newer one; not queued
- ``expired`` (with ``reason``): older than the rolling window, it would not show; not queued
- ``rejected`` (with ``errors``: ``field`` and ``reason``): not queued

Status: 202 when at least one item was queued; 200 when nothing needed queuing (every item
unchanged, stale, expired or rejected, but not all rejected; ``job_id: null``); 422
problem+json when every item was rejected. With an ``Idempotency-Key`` the first final answer
is replayed (see idempotency.py).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis
import redis.asyncio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.ingest import desk_api, roles
from services.ingest.idempotency import TTL_S, Claim, IdempotencyStore, fingerprint
from services.ingest.intake import QUEUED, STATUSES, KnownVersions, Posted, Verdict, posted_items
from services.ingest.metrics import record_items
from services.ingest.patching import patch_document, patched_verdict, read_stored
from services.ingest.queueing import Enqueuer
from shared.bodies import media_type, parse_json, read_body
from shared.metrics import observe_stage
from shared.models import MAX_CORRECTION_CHARS, short_plain_text
from shared.redis_client import NotReplicatedError
from shared.settings import Settings
from shared.starlette_glue import ProblemError, problem, request_id, request_started
from shared.tokens import NamedToken

log = logging.getLogger(__name__)

Run = Callable[[Claim | None], Awaitable[Response]]

# Below this size, parsing and validating a body on the event loop costs less than the hop to a
# worker thread and back (a single article: ~0.1 ms vs a thread hop's GIL hand-offs).
INLINE_PARSE_BYTES = 16 * 1024


async def _parse(body: bytes, *args: Any) -> Posted:
    """``posted_items(*args)``: on the loop for small bodies, in a thread for large ones."""
    if len(body) <= INLINE_PARSE_BYTES:
        return posted_items(*args)
    return await run_in_threadpool(posted_items, *args)


class _Answer(JSONResponse):
    """The 200/202 answer, rendered by orjson: the same compact UTF-8 JSON as Starlette's (the
    document holds only strings, integers, lists and objects), 7 us instead of 130 for 100 items.
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def retraction_reason(body: bytes) -> str | None:
    """The optional ``{"reason": "..."}`` of a DELETE (plain text, at most 500 characters)."""
    if not body.strip():
        return None
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise ProblemError(
            422,
            'the body of a DELETE is optional: {"reason": "..."}',
            errors=[{"field": "body", "reason": 'must be an object such as {"reason": "..."}'}],
        )
    raw = payload.get("reason")
    if raw is None:
        return None
    # As sent, within the raw bound the OpenAPI document states; then as plain text.
    text = short_plain_text(raw, MAX_CORRECTION_CHARS)
    if text is None:
        raise ProblemError(
            422,
            "the retraction reason is not valid",
            errors=[
                {
                    "field": "reason",
                    "reason": f"must be plain text of 1-{MAX_CORRECTION_CHARS} characters",
                }
            ],
        )
    return text


def redis_down() -> ProblemError:
    """503: the queue (Redis) did not answer, so nothing was accepted."""
    return ProblemError(
        503, "the queue (Redis) is unreachable: nothing was accepted", headers={"Retry-After": "5"}
    )


def not_replicated(exc: NotReplicatedError, wait_ms: int) -> ProblemError:
    """503: the job is queued on the primary, but not on enough replicas to survive its loss."""
    return ProblemError(
        503,
        f"only {exc.acknowledged} of the {exc.required} Redis replica(s) required "
        f"(LIVEFEED_REDIS_MIN_REPLICAS) acknowledged the job within {wait_ms} ms, so it could "
        "be lost in a failover: not accepted. It may still be applied; retrying is safe.",
        errors=[{"field": "replicas", "reason": f"{exc.acknowledged} of {exc.required}"}],
        headers={"Retry-After": "5"},
    )


class Writes:
    """POST/PUT/PATCH/DELETE handlers (the token is checked by the caller)."""

    def __init__(self, settings: Settings, client: redis.asyncio.Redis, queue: Enqueuer) -> None:
        self.settings = settings
        self.client = client
        self.queue = queue
        self.idempotency = IdempotencyStore(client, settings.idempotency_budget_bytes)
        self.known = KnownVersions(client, settings)

    async def post(self, request: Request, who: NamedToken) -> Response:
        """``POST /v1/articles``: JSON, ninjs, RSS or Atom; one item or a batch."""
        body = await read_body(request, self.settings.max_body_bytes)
        media = media_type(request)

        async def run(claim: Claim | None) -> Response:
            posted = await _parse(body, media, body, self.settings.max_batch_items)
            return await self._accept(request, posted, claim, who)

        return await self._once(request, media, body, run, who)

    async def put(self, request: Request, article_id: str, who: NamedToken) -> Response:
        """``PUT /v1/articles/{id}``: create or replace one article (native or ninjs)."""
        body = await read_body(request, self.settings.max_body_bytes)
        media = media_type(request)
        started_from = roles.if_match(request)

        async def run(claim: Claim | None) -> Response:
            posted = await _parse(body, media, body, self.settings.max_batch_items, article_id)
            posted.if_match = started_from
            return await self._accept(request, posted, claim, who)

        return await self._once(request, media, body, run, who)

    async def patch(self, request: Request, article_id: str, who: NamedToken) -> Response:
        """``PATCH /v1/articles/{id}``: a JSON Merge Patch onto the stored article, then as a
        PUT of the result (services/ingest/patching.py: the rank and the race)."""
        body = await read_body(request, self.settings.max_body_bytes)
        media = media_type(request)
        patch = patch_document(media, body, article_id)
        started_from = roles.if_match(request)

        async def run(claim: Claim | None) -> Response:
            try:
                # A draft's patch (services/ingest/desk_api.py), else the stored article's.
                verdict = await desk_api.patched_draft(self.client, article_id, patch, who)
                stored = None if verdict else await read_stored(self.client, article_id)
            except redis.RedisError as exc:
                raise redis_down() from exc
            if stored is not None:
                verdict = patched_verdict(stored, patch, article_id)
                where = who.refusal(stored.section, None)
                if where is not None:
                    verdict.forbid(who, where)
            assert verdict is not None
            posted = Posted("json", [verdict], batch=False, if_match=started_from)
            return await self._accept(request, posted, claim, who)

        return await self._once(request, media, body, run, who)

    async def delete(self, request: Request, article_id: str, who: NamedToken) -> Response:
        """``DELETE /v1/articles/{id}``: retract it from the timeline, the feeds and every page.

        An optional JSON body ``{"reason": "..."}`` is kept in the article's history.
        """
        body = await read_body(request, self.settings.max_body_bytes)
        reason = retraction_reason(body)

        async def run(claim: Claim | None) -> Response:
            verdict = Verdict(index=0, op="retract", article_id=article_id, reason=reason)
            return await self._accept(request, Posted("json", [verdict], batch=False), claim, who)

        return await self._once(request, "", body, run, who)

    async def submit(
        self, request: Request, body: bytes, who: NamedToken, build: Callable[[], Awaitable[Posted]]
    ) -> Response:
        """Answer and queue the items ``build`` makes (a draft's publish or return:
        services/ingest/desk_api.py), as every write: Idempotency-Key, 202, per-item results."""

        async def run(claim: Claim | None) -> Response:
            try:
                posted = await build()
            except redis.RedisError as exc:
                raise redis_down() from exc
            return await self._accept(request, posted, claim, who)

        return await self._once(request, "", body, run, who)

    async def _once(
        self, request: Request, media: str, body: bytes, run: Run, who: NamedToken
    ) -> Response:
        """Run the request, or replay / refuse it when its Idempotency-Key was seen (keys are
        the token's own: a bearer's and a desk session's of the same token share them)."""
        key = request.headers.get("idempotency-key")
        if key is None:
            return await run(None)
        request_fp = fingerprint(request.method, request.url.path, media, body)
        try:
            claimed = await self.idempotency.claim(who.token, key, request_fp)
        except redis.RedisError as exc:
            raise redis_down() from exc
        if isinstance(claimed, Response):
            return claimed
        try:
            response = await run(claimed)
        except ProblemError as exc:
            if exc.status >= 500:
                await self._release(claimed)
                raise
            response = exc.response()
        except BaseException:
            await self._release(claimed)
            raise
        if response.status_code >= 500:
            await self._release(claimed)
            return response
        try:
            await self.idempotency.record(claimed, response)
        except redis.RedisError as exc:
            # The answer stands; a retry within a minute gets 409, later it runs again.
            log.warning("could not keep the idempotent answer: %s", exc)
        return response

    async def _forget(self, claim: Claim) -> None:
        """Drop the answer stored with an unreplicated job: the retry must run (and wait) again."""
        try:
            await self.client.delete(claim.key)
        except redis.RedisError as exc:
            log.warning("could not drop an unreplicated idempotent answer: %s", exc)

    async def _release(self, claim: Claim) -> None:
        try:
            await self.idempotency.release(claim)
        except redis.RedisError as exc:
            log.warning("could not release an idempotency claim: %s", exc)

    async def _accept(
        self, request: Request, posted: Posted, claim: Claim | None, who: NamedToken
    ) -> Response:
        # Both Redis round trips (the check and the enqueue) run on the event loop's asyncio
        # client: a worker-thread hop per request cost more CPU than the work it carried.
        rid = request_id(request.scope)
        try:
            response = await self._answer_and_queue(
                rid, posted, claim, who, request_started(request.scope)
            )
        except NotReplicatedError as exc:
            if claim is not None:
                await self._forget(claim)
            raise not_replicated(exc, self.settings.redis_wait_ms) from exc
        except redis.RedisError as exc:
            raise redis_down() from exc
        if claim is not None and response.status_code == 202:
            claim.recorded = True
        return response

    async def _answer_and_queue(
        self,
        rid: str,
        posted: Posted,
        claim: Claim | None,
        who: NamedToken,
        started: float | None = None,
    ) -> Response:
        """Answer known items, build the response, queue the rest (raises RedisError)."""
        verdicts = posted.verdicts
        await roles.screen(self.client, posted, who, self.settings.zone)  # drafts, roles, If-Match
        await self.known.answer(verdicts, who)
        queued = [v for v in verdicts if v.status in QUEUED]
        counts: dict[str, int] = {
            status: sum(1 for v in verdicts if v.status == status) for status in STATUSES
        }
        record_items(counts)
        if not queued and counts["rejected"] == len(verdicts):
            extra: dict[str, Any] = {
                "request_id": rid,
                "format": posted.kind,
                **counts,
                "results": [v.result(None) for v in verdicts],
            }
            forbidden = all(v.forbidden for v in verdicts)
            by_role = any(e["field"] == "role" for v in verdicts for e in v.errors)
            return problem(
                403 if forbidden else 422,
                (
                    "this token's role does not allow this (contributors write drafts only); "
                    "nothing was queued"
                    if by_role
                    else "this token may not change these sections; nothing was queued"
                )
                if forbidden
                else "no valid article in the request; nothing was queued",
                errors=[error for v in verdicts for error in v.errors],
                **extra,
            )
        job_id = uuid.uuid4().hex if queued else None
        doc: dict[str, Any] = {
            "request_id": rid,
            "format": posted.kind,
            "job_id": job_id,
            "status_url": f"/v1/jobs/{job_id}" if job_id else None,
            **counts,
            "results": [v.result(job_id) for v in verdicts],
        }
        response = _Answer(doc, status_code=202 if queued else 200)
        if queued:
            also = None
            if claim is not None:
                answer = claim.answer(response)
                if await self.idempotency.affordable(claim, answer):
                    also = (claim.key, answer, TTL_S)
            if started is not None:
                observe_stage("request", time.perf_counter() - started)
            await self.queue.enqueue(
                [v.queued_item(who) for v in queued], rid, job_id=job_id, also_set=also
            )
        return response
