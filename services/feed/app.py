"""The feed service: the timeline API, single articles, feeds, the live page and the embed.

Every view is served from memory (readcache.py) while the timeline's state is unchanged; the
process's one stream consumer drops the stored views as events arrive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import orjson
import redis.asyncio as aredis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.feed import permalink
from services.feed.alerts import Alerts
from services.feed.caching import Rendered, article_keys, edge_headers, edge_keys, render
from services.feed.clicks import Clicks
from services.feed.column import Assets
from services.feed.embed import Embed, EmbedCors
from services.feed.grip import GripOrigin
from services.feed.live import LiveParts
from services.feed.params import (
    after_param,
    at_param,
    before_param,
    label_param,
    lang_param,
    limit_param,
    section_param,
    store_down,
)
from services.feed.readcache import ReadCache
from services.feed.store import Cursor, TimelineReader
from services.feed.timeline import localize, timeline_body
from shared import clicks
from shared.audience_api import PublicCount, audience_response
from shared.auth import BearerAuth, FailedAuthThrottle, TokenCheck, bearer_token
from shared.eventlog import stop_reader
from shared.events import Entry
from shared.gc_tuning import tune_gc
from shared.history import history_response
from shared.i18n import negotiate
from shared.models import is_article_id
from shared.redis_client import async_client
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
from shared.stream import BLOCK_MS, StreamConsumer

log = logging.getLogger(__name__)

MAX_REDIS = 64  # Redis connections per feed process; more concurrent commands wait for one
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Feed:
    """Request handlers; holds the Redis client opened in the lifespan."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.client: aredis.Redis | None = None
        self.reader: TimelineReader | None = None
        self.cache: ReadCache | None = None
        # The one client's module, bundled once for the page and the embed.
        self.assets = Assets(settings)
        self.live = LiveParts(settings, lambda: self.store, lambda: self.views, self.assets)
        self.grip = GripOrigin(settings, lambda: self.redis)  # GRIP answers, the long-poll
        # The change history is also read here (nginx sends it to ingest; a tool that knows
        # only the feed's address finds it too), with the same bearer tokens.
        self.check_token: BearerAuth | None = None
        self.public_count = PublicCount()
        try:
            self.check_token = BearerAuth(
                TokenCheck(settings),
                FailedAuthThrottle(lambda: self.redis, settings.auth_failures_per_minute),
            )
        except ValueError as exc:  # no token at all: the feed itself needs none
            log.info("change history not served on this port: %s", exc)

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Open Redis, the view cache and its stream consumer for the app's lifetime."""
        # A burst of readers (a GRIP proxy's reconnecting readers, each one catch-up) waits
        # for a connection rather than being refused with redis-py's "Too many connections".
        self.client = async_client(self.redis_url, self.settings, max_connections=MAX_REDIS)
        self.reader = TimelineReader(self.client, self.settings)
        self.cache = ReadCache(self.client, self.settings.view_cache_bytes)
        tune_gc()  # shared/gc_tuning.py: full collections would walk every cached view
        stream = async_client(self.redis_url, self.settings, block_ms=BLOCK_MS)
        cache, origin = self.cache, self.grip

        def deliver(entries: list[Entry]) -> None:
            cache.invalidate(entries)
            origin.deliver(entries)

        consumer = StreamConsumer(stream, "feed view cache", deliver)
        task = asyncio.create_task(consumer.run(), name="stream-consumer")
        try:
            yield
        finally:
            await stop_reader(task)
            await stream.aclose()
            await self.client.aclose()

    @property
    def redis(self) -> aredis.Redis:
        assert self.client is not None, "used outside the lifespan"
        return self.client

    @property
    def store(self) -> TimelineReader:
        assert self.reader is not None, "used outside the lifespan"
        return self.reader

    @property
    def views(self) -> ReadCache:
        assert self.cache is not None, "used outside the lifespan"
        return self.cache

    async def timeline(self, request: Request) -> Response:
        """``GET /v1/timeline?limit=&before=&section=&label=&lang=``: day-grouped, newest
        first; ``lang`` shows one edition, its day labels in its language. ``at=<id>``: around
        that headline, ``after=<newer>``: the headlines just above (services/feed/permalink.py)."""
        query = request.query_params
        limit = limit_param(query, DEFAULT_LIMIT, MAX_LIMIT)
        before = before_param(query)
        section, label, lang = section_param(query), label_param(query), lang_param(query)
        at, after = at_param(query), after_param(query)
        if at is not None or after is not None:
            return await self.views.serve(
                request,
                permalink.timeline_key(limit, at, after, section, label, lang),
                lambda: self._around(limit, at, after, section, label, lang),
            )
        return await self.views.serve_page(
            request,
            ("timeline", limit, section, label, lang),
            before,
            lambda cursor: self._timeline(limit, cursor, section, label, lang),
        )

    async def _timeline(
        self,
        limit: int,
        before: Cursor | None,
        section: str | None,
        label: str | None,
        lang: str | None = None,
    ) -> Rendered:
        try:
            page = await self.store.page(
                limit=limit, before=before, section=section, label=label, lang=lang
            )
        except RedisError as exc:
            raise store_down() from exc
        body = timeline_body(page, self.settings.zone, negotiate(lang, self.settings.language))
        # Short lifetime + validators: a retracted headline leaves caches within seconds.
        keys = edge_keys(page.headlines, section, label, lang, summary=True)
        return render(
            orjson.dumps(body),
            "application/json",
            max_age=self.settings.cache_max_age,
            headers=edge_headers(keys, self.settings.edge_max_age),
            expires_ms=page.ages_out_ms,
        )

    async def _around(
        self,
        limit: int,
        at: str | None,
        after: Cursor | None,
        section: str | None,
        label: str | None,
        lang: str | None,
    ) -> Rendered:
        if at is not None:
            page = await permalink.around(self.store, at, limit, section, label, lang)
        else:
            assert after is not None
            try:
                page = await self.store.after(
                    after, limit=limit, section=section, label=label, lang=lang
                )
            except RedisError as exc:
                raise store_down() from exc
        speaks = negotiate(lang, self.settings.language)
        return permalink.timeline_view(page, self.settings, speaks, section, label, lang)

    async def article(self, request: Request) -> Response:
        """``GET /v1/articles/{id}``: one live headline."""
        article_id = request.path_params["article_id"]
        if not is_article_id(article_id):
            raise ProblemError(404, "no such article")
        return await self.views.serve(
            request, ("article", article_id), lambda: self._article(article_id)
        )

    async def history(self, request: Request) -> Response:
        """``GET /v1/articles/{id}/history`` (bearer, any token): as ingest answers it."""
        return await self._about_article(
            request,
            "history",
            lambda article_id: history_response(self.redis, article_id, self.settings.zone),
        )

    async def stats(self, request: Request) -> Response:
        """``GET /v1/articles/{id}/stats`` (bearer, any token): its opens and click-through,
        as ingest answers it (shared/clicks.py)."""
        return await self._about_article(
            request,
            "stats",
            lambda article_id: clicks.stats_response(
                self.redis, article_id, request.query_params, self.settings.zone
            ),
        )

    async def _about_article(
        self, request: Request, what: str, answer: Callable[[str], Awaitable[Response]]
    ) -> Response:
        """A bearer read about one article (``/v1/articles/{id}/<what>``).

        Without a token this may be a reader's request for an article whose id ends in
        ``/<what>`` (ids may hold ``/``): that article is served if it is live.
        """
        if bearer_token(request) is None:
            whole = request.path_params["article_id"] + "/" + what
            if is_article_id(whole):
                try:
                    return await self.views.serve(
                        request, ("article", whole), lambda: self._article(whole)
                    )
                except ProblemError as exc:
                    if exc.status != 404:
                        raise
        if self.check_token is None:
            raise ProblemError(
                404,
                "no tokens here (LIVEFEED_INGEST_TOKENS, LIVEFEED_TOKENS_FILE): ask ingest for "
                f"the article's {what}",
            )
        await self.check_token(request)
        article_id = path_article_id(request)
        try:
            return await answer(article_id)
        except RedisError as exc:
            raise store_down() from exc

    async def audience(self, request: Request) -> Response:
        """``GET /v1/audience`` (bearer, any token): readers now across every push process, as
        ingest answers it (shared/audience_api.py)."""
        if self.check_token is None:
            raise ProblemError(
                404,
                "no tokens here (LIVEFEED_INGEST_TOKENS, LIVEFEED_TOKENS_FILE): ask ingest for "
                "the audience",
            )
        await self.check_token(request)
        try:
            return await audience_response(self.redis, request.query_params, self.settings.zone)
        except RedisError as exc:
            raise store_down() from exc

    async def audience_count(self, request: Request) -> Response:
        """``GET /v1/audience/count``: the total of readers now, public and cacheable, for
        ``<livefeed-column show-readers>``; 404 unless LIVEFEED_AUDIENCE_PUBLIC."""
        if not self.settings.audience_public:
            raise ProblemError(
                404, "the reader count is not public here (LIVEFEED_AUDIENCE_PUBLIC)"
            )
        try:
            return await self.public_count.response(self.redis)
        except RedisError as exc:
            raise store_down() from exc

    async def _article(self, article_id: str) -> Rendered:
        try:
            headline, ages_out_ms = await self.store.article(article_id)
        except RedisError as exc:
            raise store_down() from exc
        if headline is None:
            raise ProblemError(
                404, "no such article", errors=[{"field": "id", "reason": "unknown or retracted"}]
            )
        return render(
            orjson.dumps(localize(headline, self.settings.zone)),
            "application/json",
            max_age=0,
            cache_control="no-cache",
            headers=edge_headers(article_keys(headline), self.settings.edge_max_age),
            expires_ms=ages_out_ms,
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


def worker_app() -> Starlette:
    """One of ``LIVEFEED_FEED_WORKERS`` processes (``shared.starlette_glue.worker_app``)."""
    app = shared_worker_app("feed", create_app)
    assert isinstance(app, Starlette)
    return app


def create_app(settings: Settings, redis_url: str) -> Starlette:
    """The feed ASGI app."""
    feed = Feed(settings, redis_url)
    # Several workers share the port: any one of them answers a scrape with all their counts.
    metrics = workers_metrics_endpoint if settings.feed_workers > 1 else metrics_endpoint
    routes = [
        Route("/v1/timeline", feed.timeline, methods=["GET"]),
        Route("/v1/articles/{article_id:path}/history", feed.history, methods=["GET"]),
        Route("/v1/articles/{article_id:path}/stats", feed.stats, methods=["GET"]),
        Route("/v1/audience", feed.audience, methods=["GET"]),
        Route("/v1/audience/count", feed.audience_count, methods=["GET"]),
        Route("/v1/articles/{article_id:path}", feed.article, methods=["GET"]),
        Route("/healthz", feed.healthz, methods=["GET"]),
        Route("/readyz", feed.readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *feed.live.routes(),
        *feed.grip.routes(),
        *Embed(settings, lambda: feed.store, lambda: feed.views, feed.assets).routes(),
        *Alerts(settings, lambda: feed.redis).routes(),
        *Clicks(settings, lambda: feed.redis).routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestLogMiddleware), Middleware(EmbedCors, settings=settings)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=feed.lifespan,
    )
    return app
