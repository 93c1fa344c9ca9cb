"""What every group of view handlers (the page, the feeds, the embed) is made with."""

from __future__ import annotations

from collections.abc import Callable

from services.feed.readcache import ReadCache
from services.feed.store import TimelineReader
from shared.settings import Settings


class ViewHandlers:
    """Holds the settings, the timeline reader and the view cache. The last two are opened in
    the app's lifespan, after the routes are made, so they are given as callables."""

    def __init__(
        self,
        settings: Settings,
        reader: Callable[[], TimelineReader],
        views: Callable[[], ReadCache],
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.views = views
