"""The feed service: the timeline API, single articles, feeds, SSE and the live page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import redis.asyncio as aredis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.feed.caching import cached, edge_headers, edge_keys
from services.feed.embed import Embed, EmbedCors
from services.feed.live import LiveParts
from services.feed.params import (
    before_param,
    label_param,
    limit_param,
    section_param,
    store_down,
)
from services.feed.store import TimelineReader
from services.feed.timeline import group_by_day, localize
from shared.models import is_article_id
from shared.redis_client import async_client
from shared.settings import Settings
from shared.starlette_glue import (
    EXCEPTION_HANDLERS,
    ProblemError,
    RequestLogMiddleware,
    metrics_endpoint,
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Feed:
    """Request handlers; holds the Redis client opened in the lifespan."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.client: aredis.Redis | None = None
        self.reader: TimelineReader | None = None
        self.live = LiveParts(settings, lambda: self.store)

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Open the Redis client for the app's lifetime."""
        self.client = async_client(self.redis_url, self.settings)
        self.reader = TimelineReader(self.client, self.settings)
        try:
            yield
        finally:
            await self.client.aclose()

    @property
    def store(self) -> TimelineReader:
        assert self.reader is not None, "used outside the lifespan"
        return self.reader

    async def timeline(self, request: Request) -> Response:
        """``GET /v1/timeline?limit=&before=&section=&label=``: day-grouped, newest first."""
        query = request.query_params
        limit = limit_param(query, DEFAULT_LIMIT, MAX_LIMIT)
        before = before_param(query)
        section, label = section_param(query), label_param(query)
        try:
            page = await self.store.page(limit=limit, before=before, section=section, label=label)
        except RedisError as exc:
            raise store_down() from exc
        body = {
            "pinned": [localize(h, self.settings.zone) for h in page.pinned],
            "days": group_by_day(page.headlines, self.settings.zone),
            "next": page.next.encode() if page.next else None,
            "event_id": page.event_id,
        }
        # Short lifetime + validators: a retracted headline leaves caches within seconds.
        keys = edge_keys(page.headlines, section, label)
        return cached(
            request,
            orjson.dumps(body),
            "application/json",
            max_age=self.settings.cache_max_age,
            headers=edge_headers(keys, self.settings.edge_max_age),
        )

    async def article(self, request: Request) -> Response:
        """``GET /v1/articles/{id}``: one live headline."""
        article_id = request.path_params["article_id"]
        if not is_article_id(article_id):
            raise ProblemError(404, "no such article")
        try:
            headline = await self.store.article(article_id)
        except RedisError as exc:
            raise store_down() from exc
        if headline is None:
            raise ProblemError(
                404, "no such article", errors=[{"field": "id", "reason": "unknown or retracted"}]
            )
        keys = [f"article:{article_id}"]
        if headline.get("section"):
            keys.append(f"section:{headline['section']}")
        return JSONResponse(
            localize(headline, self.settings.zone),
            headers={"Cache-Control": "no-cache", **edge_headers(keys, self.settings.edge_max_age)},
        )

    async def healthz(self, request: Request) -> Response:
        """The process is up."""
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Ready when Redis answers; 503 otherwise."""
        assert self.client is not None
        try:
            await self.client.ping()
        except RedisError:
            return JSONResponse({"status": "unavailable", "redis": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ready", "redis": "ok"})


def create_app(settings: Settings, redis_url: str) -> Starlette:
    """The feed ASGI app."""
    feed = Feed(settings, redis_url)
    routes = [
        Route("/v1/timeline", feed.timeline, methods=["GET"]),
        Route("/v1/articles/{article_id:path}", feed.article, methods=["GET"]),
        Route("/healthz", feed.healthz, methods=["GET"]),
        Route("/readyz", feed.readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *feed.live.routes(),
        *Embed(settings, lambda: feed.store).routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestLogMiddleware), Middleware(EmbedCors, settings=settings)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=feed.lifespan,
    )
    return app
