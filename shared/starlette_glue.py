"""Starlette glue shared by the two Starlette services (ingest and feed).

Problem+json responses and the exception handlers that produce them, the request-id and
access-log middleware, and ``GET /metrics``. The only module in ``shared`` that imports Starlette:
the push service (``websockets``) and the worker (WSGI, ``services/feed/worker_http.py``) never
load it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logs import configure_logging
from shared.metrics import UNMATCHED_ROUTE, exposition, observe_request
from shared.models import ID_RULE, is_article_id
from shared.problems import PROBLEM_TYPE, problem_document
from shared.redis_client import running_url
from shared.settings import Settings, get_settings

# What bearer endpoints answer (history, stats, audience): never kept by a browser or an edge.
NOT_CACHED = {"Cache-Control": "private, no-store"}


def known_params(query: Mapping[str, str], *names: str) -> None:
    """A 400 naming the first query parameter that is not one of ``names`` (a typo such as
    ``?minute=`` would otherwise be silently ignored)."""
    for name in query:
        if name not in names:
            shown = name[:40]
            raise ProblemError(
                400,
                f"unknown query parameter {shown!r}; known: {', '.join(names)}",
                errors=[{"field": shown, "reason": "unknown parameter"}],
            )


log = logging.getLogger("livefeed.http")


class ProblemResponse(JSONResponse):
    """An RFC 9457 problem document."""

    media_type = PROBLEM_TYPE


def problem(
    status: int,
    detail: str,
    *,
    errors: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    """A problem+json response; ``errors`` name each bad field: ``{"field", "reason"}``."""
    body = problem_document(status, detail, errors=errors, **extra)
    return ProblemResponse(body, status_code=status, headers=headers)


class ProblemError(Exception):
    """Raised anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers

    def response(self) -> ProblemResponse:
        """The problem document this error stands for."""
        return problem(self.status, self.detail, errors=self.errors, headers=self.headers)


async def on_problem(request: Request, exc: Exception) -> Response:
    """Exception handler: ProblemError → its document."""
    assert isinstance(exc, ProblemError)
    return exc.response()


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 as problem documents too."""
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """Any other exception: a problem+json 500 (Starlette's own answer is text/plain).

    Starlette hands this handler to its outermost ``ServerErrorMiddleware``, which sends the
    answer and then re-raises, so uvicorn still logs the traceback. That middleware runs
    outside ``RequestLogMiddleware``: the request id is repeated here so the client can quote
    it and ops can find the traceback.
    """
    rid = request_id(request.scope)
    return problem(
        500,
        "internal error; quote the request id when reporting it",
        headers={"X-Request-ID": rid} if rid else None,
        request_id=rid,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ProblemError: on_problem,
    HTTPException: on_http_exception,
    # Exception (or 500) is the one key Starlette gives to ServerErrorMiddleware.
    Exception: on_unexpected,
}


def path_article_id(request: Request) -> str:
    """The ``{article_id}`` of the URL; a 422 problem naming ``id`` when it breaks the rule."""
    article_id: str = request.path_params["article_id"]
    if not is_article_id(article_id):
        raise ProblemError(
            422,
            "the article id in the URL is not valid",
            errors=[{"field": "id", "reason": ID_RULE}],
        )
    return article_id


def request_started(scope: Scope) -> float | None:
    """When the request arrived (``time.perf_counter()``; set by ``RequestLogMiddleware``)."""
    value = scope.get("state", {}).get("started")
    return value if isinstance(value, float) else None


def request_id(scope: Scope) -> str:
    """The id of the request being served (set by ``RequestLogMiddleware``)."""
    value = scope.get("state", {}).get("request_id", "")
    return str(value)


class RequestLogMiddleware:
    """Gives each request an id (``X-Request-ID``, kept if sane) and logs one line for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else ""
        rid = rid or uuid.uuid4().hex
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        state["request_id"], state["started"] = rid, started
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            elapsed = time.perf_counter() - started
            # The route template (not the raw path) keeps metric labels few.
            template = getattr(route, "path", None)
            observe_request(template or UNMATCHED_ROUTE, scope["method"], status, elapsed)
            log.info(
                "%s %s %d",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "request_id": rid,
                    "route": template or scope["path"],
                    "ms": round(elapsed * 1000, 2),
                },
            )


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics`` for a Starlette app."""
    body, content_type = exposition()
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


async def workers_metrics_endpoint(request: Request) -> Response:
    """``GET /metrics`` of one of several processes of a service: every worker's samples, added
    (``LIVEFEED_INGEST_WORKERS``, ``LIVEFEED_FEED_WORKERS``).

    The workers share one port, so a scrape reaches any one of them. The CLI points each
    worker's prometheus_client at one folder (``PROMETHEUS_MULTIPROC_DIR``), and this collector
    sums the counters and histograms found there, a dead worker's included.
    """
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(
        generate_latest(registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )


def worker_app(service: str, create_app: Callable[[Settings, str], ASGIApp]) -> ASGIApp:
    """The app of one of ``LIVEFEED_<SERVICE>_WORKERS`` processes (uvicorn starts each by name).

    ``livefeed <service>`` resolved the Redis before starting them and passed it on in the
    environment (``LIVEFEED_REDIS_URL``, or the Sentinel settings, which each worker follows
    itself).
    """
    settings = get_settings()
    configure_logging(settings, service)
    url = running_url(settings)
    if url is None:
        raise RuntimeError(f"{service} workers are started by `livefeed {service}`, with a Redis")
    return create_app(settings, url)
