"""The ingest service: newsroom tools post articles; each request becomes one queued job."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
import redis.asyncio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.ingest import aioredis, desk_api, roles
from services.ingest.desk import Desk
from services.ingest.openapi import openapi_document
from services.ingest.queueing import Enqueuer
from services.ingest.ratelimit import RateLimit
from services.ingest.sessions import SessionOrBearer, Sessions
from services.ingest.summary import Summaries
from services.ingest.writes import Writes, redis_down
from shared import clicks
from shared.audience_api import audience_response
from shared.auth import BearerAuth, FailedAuthThrottle, TokenCheck
from shared.bodies import read_body
from shared.devmode import session_secret
from shared.history import history_response
from shared.redis_client import sync_client
from shared.settings import Settings
from shared.starlette_glue import (
    EXCEPTION_HANDLERS,
    ProblemError,
    RequestLogMiddleware,
    metrics_endpoint,
    path_article_id,
    workers_metrics_endpoint,
)
from shared.starlette_glue import worker_app as shared_worker_app

_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Ingest:
    """Request handlers; holds the clients opened in the lifespan."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.client: redis.Redis | None = None
        self.aclient: redis.asyncio.Redis | None = None
        # Failed checks are counted per client address across every process (shared.auth).
        bearer = BearerAuth(
            TokenCheck(settings),
            FailedAuthThrottle(lambda: self.redis, settings.auth_failures_per_minute),
        )
        # A desk session cookie authenticates as its token too (services/ingest/sessions.py).
        secret = session_secret(settings)
        sessions = Sessions(settings, lambda: self.redis, bearer.tokens, secret)
        self.check_token = SessionOrBearer(bearer, sessions)
        self.desk = Desk(settings, lambda: self.redis, bearer.tokens, bearer.throttle, sessions)
        self.enqueuer: Enqueuer | None = None
        self.writer: Writes | None = None
        self.rate_limit: RateLimit | None = None
        self.summary_store: Summaries | None = None

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Open the Redis client and queue for the app's lifetime."""
        self.client = sync_client(self.redis_url, self.settings)
        # The write path (rate limit, idempotency, the version check, the enqueue) talks to
        # Redis from the event loop; job status and readiness use the plain client in a thread.
        self.aclient = aioredis.connect(self.redis_url, self.settings)
        self.enqueuer = Enqueuer(self.client, self.settings, self.aclient)
        self.writer = Writes(self.settings, self.aclient, self.enqueuer)
        self.rate_limit = RateLimit(self.aclient, self.settings.ingest_rate_limit)
        self.summary_store = Summaries(self.settings, self.aclient)
        try:
            yield
        finally:
            await self.aclient.aclose()
            self.client.close()

    @property
    def redis(self) -> redis.asyncio.Redis:
        assert self.aclient is not None, "used outside the lifespan"
        return self.aclient

    @property
    def queue(self) -> Enqueuer:
        assert self.enqueuer is not None, "used outside the lifespan"
        return self.enqueuer

    @property
    def limiter(self) -> RateLimit:
        assert self.rate_limit is not None, "used outside the lifespan"
        return self.rate_limit

    @property
    def writes(self) -> Writes:
        assert self.writer is not None, "used outside the lifespan"
        return self.writer

    @property
    def summaries(self) -> Summaries:
        assert self.summary_store is not None, "used outside the lifespan"
        return self.summary_store

    async def put_summary(self, request: Request) -> Response:
        """``PUT /v1/summary``: set the live summary of the feed, a section or an edition."""
        who = await self.check_token(request)
        await self.limiter.check(who)
        return await self.summaries.put(request, who)

    async def delete_summary(self, request: Request) -> Response:
        """``DELETE /v1/summary?section=&lang=``: remove it."""
        who = await self.check_token(request)
        await self.limiter.check(who)
        return await self.summaries.delete(request, who)

    async def get_summary_history(self, request: Request) -> Response:
        """``GET /v1/summary/history?section=&lang=``: the scope's summaries (any token)."""
        await self.check_token(request)
        return await self.summaries.history(request)

    async def post_articles(self, request: Request) -> Response:
        """``POST /v1/articles``: JSON, ninjs, RSS or Atom; one article or a batch."""
        who = await self.check_token(request)
        await self.limiter.check(who)
        return await self.writes.post(request, who)

    async def put_article(self, request: Request) -> Response:
        """``PUT /v1/articles/{id}``: create or replace the article with this id."""
        who = await self.check_token(request)
        await self.limiter.check(who)
        return await self.writes.put(request, path_article_id(request), who)

    async def patch_article(self, request: Request) -> Response:
        """``PATCH /v1/articles/{id}``: change some fields (JSON Merge Patch, RFC 7396)."""
        who = await self.check_token(request)
        await self.limiter.check(who)
        return await self.writes.patch(request, path_article_id(request), who)

    async def delete_article(self, request: Request) -> Response:
        """``DELETE /v1/articles/{id}``: retract it from the timeline, the feeds and every page."""
        who = await self.check_token(request)
        await self.limiter.check(who)
        roles.require_editor(who, "retract or discard")
        return await self.writes.delete(request, path_article_id(request), who)

    async def get_drafts(self, request: Request) -> Response:
        """``GET /v1/drafts``: the drafts, newest first (any token; services/ingest/desk_api.py)."""
        who = await self.check_token(request)
        try:
            return await desk_api.list_drafts(request, who, self.redis, self.settings.zone)
        except redis.RedisError as exc:
            raise redis_down() from exc

    async def publish_draft(self, request: Request) -> Response:
        """``POST /v1/articles/{id}/publish``: an editor publishes a draft."""
        who = await self.check_token(request)
        await self.limiter.check(who)
        body = await read_body(request, self.settings.max_body_bytes)
        build = desk_api.publish_builder(
            self.redis, who, path_article_id(request), body, self.settings.zone
        )
        return await self.writes.submit(request, body, who, build)

    async def return_draft(self, request: Request) -> Response:
        """``POST /v1/articles/{id}/return``: an editor sends a draft back with a note."""
        who = await self.check_token(request)
        await self.limiter.check(who)
        body = await read_body(request, self.settings.max_body_bytes)
        build = desk_api.return_builder(
            self.redis, who, path_article_id(request), body, self.settings.zone
        )
        return await self.writes.submit(request, body, who, build)

    async def get_article(self, request: Request) -> Response:
        """``GET /v1/articles/{id}``: the stored article and draft to edit, with the version."""
        who = await self.check_token(request)
        try:
            return await desk_api.get_article(
                request, path_article_id(request), self.redis, self.settings.zone, who
            )
        except redis.RedisError as exc:
            raise redis_down() from exc

    async def get_history(self, request: Request) -> Response:
        """``GET /v1/articles/{id}/history``: every recorded change, oldest first (any token)."""
        await self.check_token(request)
        article_id = path_article_id(request)
        assert self.aclient is not None
        try:
            return await history_response(self.aclient, article_id, self.settings.zone)
        except redis.RedisError as exc:
            raise redis_down() from exc

    async def get_stats(self, request: Request) -> Response:
        """``GET /v1/articles/{id}/stats?minutes=``: its opens (``shared.clicks``; any token)."""
        await self.check_token(request)
        article_id = path_article_id(request)
        try:
            return await clicks.stats_response(
                self.redis, article_id, request.query_params, self.settings.zone
            )
        except redis.RedisError as exc:
            raise redis_down() from exc

    async def get_top(self, request: Request) -> Response:
        """``GET /v1/clicks/top?minutes=&limit=``: the most-opened live headlines (any token)."""
        await self.check_token(request)
        try:
            return await clicks.top_response(self.redis, request.query_params, self.settings.zone)
        except redis.RedisError as exc:
            raise redis_down() from exc

    async def get_audience(self, request: Request) -> Response:
        """``GET /v1/audience``: readers now across every push process (any token)."""
        await self.check_token(request)
        try:
            return await audience_response(self.redis, request.query_params, self.settings.zone)
        except redis.RedisError as exc:
            raise redis_down() from exc

    async def get_job(self, request: Request) -> Response:
        """``GET /v1/jobs/{job_id}``: queued, started, finished (with outcomes) or failed."""
        await self.check_token(request)
        job_id = request.path_params["job_id"]
        if not _JOB_ID.match(job_id):
            raise ProblemError(
                404, "no such job", errors=[{"field": "job_id", "reason": "unknown"}]
            )
        try:
            report = await run_in_threadpool(self.queue.status, job_id)
        except redis.RedisError as exc:
            raise redis_down() from exc
        if report is None:
            raise ProblemError(
                404, "no such job", errors=[{"field": "job_id", "reason": "unknown"}]
            )
        return JSONResponse(report)

    async def healthz(self, request: Request) -> Response:
        """The process is up."""
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Ready when Redis answers; 503 otherwise."""
        assert self.client is not None
        try:
            await run_in_threadpool(self.client.ping)
        except redis.RedisError:
            return JSONResponse({"status": "unavailable", "redis": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ready", "redis": "ok"})

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI 3.1 description of this service."""
        return JSONResponse(openapi_document())


def worker_app() -> Starlette:
    """One of ``LIVEFEED_INGEST_WORKERS`` processes (``shared.starlette_glue.worker_app``)."""
    app = shared_worker_app("ingest", create_app)
    assert isinstance(app, Starlette)
    return app


def create_app(settings: Settings, redis_url: str) -> Starlette:
    """The ingest ASGI app."""
    ingest = Ingest(settings, redis_url)
    # Several workers share the port: any one of them answers a scrape with all their counts.
    metrics = workers_metrics_endpoint if settings.ingest_workers > 1 else metrics_endpoint
    routes = [
        Route("/v1/articles", ingest.post_articles, methods=["POST"]),
        Route("/v1/articles/{article_id:path}/history", ingest.get_history, methods=["GET"]),
        Route("/v1/articles/{article_id:path}/stats", ingest.get_stats, methods=["GET"]),
        Route("/v1/clicks/top", ingest.get_top, methods=["GET"]),
        Route("/v1/drafts", ingest.get_drafts, methods=["GET"]),
        Route("/v1/articles/{article_id:path}/publish", ingest.publish_draft, methods=["POST"]),
        Route("/v1/articles/{article_id:path}/return", ingest.return_draft, methods=["POST"]),
        Route("/v1/articles/{article_id:path}", ingest.get_article, methods=["GET"]),
        Route("/v1/articles/{article_id:path}", ingest.put_article, methods=["PUT"]),
        Route("/v1/articles/{article_id:path}", ingest.patch_article, methods=["PATCH"]),
        Route("/v1/articles/{article_id:path}", ingest.delete_article, methods=["DELETE"]),
        Route("/v1/jobs/{job_id}", ingest.get_job, methods=["GET"]),
        Route("/v1/summary", ingest.put_summary, methods=["PUT"]),
        Route("/v1/summary", ingest.delete_summary, methods=["DELETE"]),
        Route("/v1/summary/history", ingest.get_summary_history, methods=["GET"]),
        Route("/v1/audience", ingest.get_audience, methods=["GET"]),
        Route("/healthz", ingest.healthz, methods=["GET"]),
        Route("/readyz", ingest.readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", ingest.openapi, methods=["GET"]),
        *ingest.desk.routes(),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(RequestLogMiddleware)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=ingest.lifespan,
    )
