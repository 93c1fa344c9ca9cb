"""The column's time-zone note: "All times Kyiv, UTC+2", said once, under the column's head.

The server renders every time and day header in the newsroom's zone (``LIVEFEED_TIMEZONE``);
the note names it in the column's language: the zone's exemplar city from CLDR (Babel: "Kyiv",
"Київ", "كييف") and its offset from UTC on the current date. A zone without a city (``UTC``,
``Etc/GMT-2``) is named by its offset alone ("All times UTC+2"). ``static/zone.js`` writes the
same words through Intl and adds the toggle to the reader's own zone (rendered here, hidden
until the reader's zone is at another offset).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import get_timezone_location

from shared.client_strings import ALL_TIMES, ALL_TIMES_CITY
from shared.i18n import gettext, interface
from shared.settings import Settings


def utc_offset(zone: ZoneInfo, when: datetime) -> str:
    """``UTC+2``, ``UTC+5:30``, ``UTC-3`` or ``UTC``: ``zone``'s offset at ``when``, as Intl's
    ``shortOffset`` writes it in the browser (static/zone.js ``utcOffset``)."""
    minutes = (when.astimezone(zone).utcoffset() or timedelta(0)) // timedelta(minutes=1)
    if not minutes:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes > 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")


def exemplar_city(name: str, lang: str) -> str | None:
    """The zone's city in ``lang`` (CLDR's exemplar city), or None for ``UTC`` and ``Etc/*``."""
    if "/" not in name or name.startswith("Etc/"):
        return None
    city: str = get_timezone_location(ZoneInfo(name), locale=interface(lang), return_city=True)
    return city


def zone_text(settings: Settings, lang: str, now: datetime | None = None) -> str:
    """ "All times Kyiv, UTC+2" in ``lang`` (the offset at ``now``, default: the current time)."""
    offset = utc_offset(settings.zone, now or datetime.now(UTC))
    city = exemplar_city(settings.timezone, lang)
    if city is None:
        return gettext(lang, ALL_TIMES).format(offset=offset)
    return gettext(lang, ALL_TIMES_CITY).format(city=city, offset=offset)


def zone_note(parent: ET.Element, settings: Settings, lang: str) -> ET.Element:
    """``<p class="zone-note">`` with the note and the (hidden) toggle static/zone.js drives."""
    attrs = {"class": "zone-note", "part": "zone"}
    city = exemplar_city(settings.timezone, lang)
    if city is not None:
        attrs["data-city"] = city
    note = ET.SubElement(parent, "p", attrs)
    ET.SubElement(note, "span", {"class": "zone-text"}).text = zone_text(settings, lang)
    ET.SubElement(note, "button", {"type": "button", "class": "zone-toggle",
                  "part": "button zone-toggle", "aria-pressed": "false",
                  "hidden": ""}).text = ""  # fmt: skip
    return note
