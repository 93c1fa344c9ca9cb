"""Redis scripts more than one service runs: ``events.lua`` (the one way to append an event and
keep the log's horizon; the feed's apply.lua and the live summary's script start with it) and
``summary.lua`` (the live summary, run by ingest). ``script()`` reads one."""

from __future__ import annotations

from importlib import resources


def script(name: str) -> str:
    """The text of ``shared/lua/<name>``."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
