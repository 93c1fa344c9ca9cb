"""The reader-facing parts of the feed service: the live page, its static files, feeds.

``create_app`` adds ``LiveParts.routes()``. (Server-Sent Events are served by the push
service, on its port, from the same fan-out as the WebSocket: see services/push/sse.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.routing import BaseRoute, Route

from services.feed.column import Assets
from services.feed.feeds import Feeds
from services.feed.page import LivePage
from services.feed.readcache import ReadCache
from services.feed.static import StaticFiles
from services.feed.store import TimelineReader
from shared.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"


class LiveParts:
    """The page and feed handlers."""

    def __init__(
        self,
        settings: Settings,
        reader: Callable[[], TimelineReader],
        views: Callable[[], ReadCache],
        assets: Assets,
    ) -> None:
        self.page = LivePage(settings, reader, views, assets)
        self.feeds = Feeds(settings, reader, views)
        self.static = StaticFiles(STATIC)

    def routes(self) -> list[BaseRoute]:
        """``/``, ``/static/*``, ``/feed.rss|atom|json``."""
        return [
            Route("/", self.page.endpoint, methods=["GET"]),
            Route("/feed.rss", self.feeds.endpoint, methods=["GET"]),
            Route("/feed.atom", self.feeds.endpoint, methods=["GET"]),
            Route("/feed.json", self.feeds.endpoint, methods=["GET"]),
            *self.static.routes("/static"),
        ]
