"""What every group of view handlers (the page, the feeds, the embed) is made with."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from services.feed.readcache import ReadCache
from services.feed.store import TimelineReader
from shared.settings import Settings

if TYPE_CHECKING:  # a runtime import would close a cycle through the feed modules
    from services.feed.column import Assets


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


class ColumnHandlers(ViewHandlers):
    """View handlers that render the column (the page, the embed): they share the one client's
    assets, bundled once per process."""

    def __init__(
        self,
        settings: Settings,
        reader: Callable[[], TimelineReader],
        views: Callable[[], ReadCache],
        assets: Assets,
    ) -> None:
        super().__init__(settings, reader, views)
        self.assets = assets
