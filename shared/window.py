"""The rolling window (``LIVEFEED_WINDOW_DAYS``): which publication times the timeline keeps.

One definition for the worker (the apply script expires an item published before the floor,
embargoed or not) and for ingest (which answers such an item ``expired`` at once).
"""

from __future__ import annotations

from shared.dates import now_ms
from shared.settings import Settings

DAY_MS = 86_400_000


def window_floor_ms(settings: Settings, now: int | None = None) -> int | None:
    """The oldest publication time the rolling window keeps (None: no age limit).

    Counted back from now in whole days of milliseconds: the same instant in every zone. It
    may lie before 1970 (a negative number) for a long window.
    """
    if settings.window_days == 0:
        return None
    return (now or now_ms()) - settings.window_days * DAY_MS


def outside_window(published_ms: int, floor: int | None) -> bool:
    """Whether an item published at ``published_ms`` would not show (the apply script's
    ``op.pub < MIN_MS``)."""
    return floor is not None and published_ms < floor
