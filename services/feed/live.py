"""The reader-facing parts of the feed service: the live page, its static files, SSE, feeds.

``create_app`` adds ``LiveParts.routes()`` and runs ``start``/``stop`` in its lifespan.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from services.feed.feeds import Feeds
from services.feed.page import LivePage
from services.feed.sse import SseHub
from services.feed.store import TimelineReader
from shared.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"


class LiveParts:
    """Owns the SSE hub (one stream reader per process) and the page and feed handlers."""

    def __init__(
        self, settings: Settings, redis_url: str, reader: Callable[[], TimelineReader]
    ) -> None:
        self.sse = SseHub(settings, redis_url)
        self.page = LivePage(settings, reader)
        self.feeds = Feeds(settings, reader)

    def routes(self) -> list[BaseRoute]:
        """``/``, ``/static/*``, ``/v1/events``, ``/feed.rss|atom|json``."""
        return [
            Route("/", self.page.endpoint, methods=["GET"]),
            Route("/v1/events", self.sse.endpoint, methods=["GET"]),
            Route("/feed.rss", self.feeds.endpoint, methods=["GET"]),
            Route("/feed.atom", self.feeds.endpoint, methods=["GET"]),
            Route("/feed.json", self.feeds.endpoint, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]

    async def start(self) -> None:
        """Start the SSE stream reader."""
        await self.sse.start()

    def drain(self) -> None:
        """Shutdown has begun: end the SSE streams so the server need not wait them out."""
        self.sse.close_all()

    async def stop(self) -> None:
        """Stop the reader."""
        await self.sse.stop()
