"""The live summary at the top of the column, rendered on the server (static/summary.js keeps it
current from the stream's ``summary`` frames and builds the same markup).

A collapsible block, open by default: a ``<details>`` whose ``<summary>`` reads "Summary" and
"Updated 16:55" (the time in the column's language and the newsroom's zone, its full context
in a tooltip), then the paragraphs as text. Hidden while the view has no summary. Its
``data-scopes`` (JSON) lists the state of each scope the column may show
(``shared.summary.candidates``), so that the client can fall back to a wider one when a
narrower one is deleted, and tell a frame it already reflects (by its event id) from a newer
one.

``::part()`` names: ``summary`` (the block), ``summary-toggle`` (the line that opens and closes
it), ``summary-time``, ``summary-text``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import orjson

from shared.dates import local_time
from shared.i18n import N_, gettext
from shared.settings import Settings
from shared.summary import PARAGRAPH_BREAK, ScopeState, effective

SUMMARY_TITLE = N_("Summary")
UPDATED_TEXT = N_("Updated {time}")


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    names = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
    node = ET.SubElement(parent, tag, names)
    if text is not None:
        node.text = text
    return node


def render_summary(
    parent: ET.Element, states: list[ScopeState], settings: Settings, lang: str
) -> None:
    """The block (hidden without a summary), appended to ``parent``."""
    # column.py imports this module: its one definition of a time's tooltip is read when called.
    from services.feed.column import full_time

    current: dict[str, Any] | None = effective(states)
    scopes = orjson.dumps([state.data() for state in states]).decode()
    box = _add(parent, "div", class_="summary", part="summary", data_scopes=scopes)
    if current is None:
        box.set("hidden", "")
    details = _add(box, "details", class_="summary-box", open="")
    toggle = _add(details, "summary", class_="summary-head", part="summary-toggle")
    _add(toggle, "span", gettext(lang, SUMMARY_TITLE), class_="summary-title").tail = " "
    stamp = _add(toggle, "time", "", class_="summary-time", part="summary-time")
    text = _add(details, "div", class_="summary-text", part="summary-text", dir="auto")
    if current is not None:
        at = datetime.fromisoformat(current["updated_at"]).astimezone(settings.zone)
        stamp.text = gettext(lang, UPDATED_TEXT).format(time=local_time(at, lang))
        stamp.set("datetime", at.isoformat())
        stamp.set("title", full_time(at.isoformat(), settings.timezone, lang))
        for paragraph in str(current["text"]).split(PARAGRAPH_BREAK):
            _add(text, "p", paragraph)
