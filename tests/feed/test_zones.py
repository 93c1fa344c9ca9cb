"""The column's time-zone note as the server writes it: the newsroom's city in the column's
language (CLDR) and its offset on the day (static/zone.js writes the same through Intl)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.feed.zones import exemplar_city, utc_offset, zone_note, zone_text
from shared.settings import Settings

WINTER = datetime(2024, 1, 15, 12, tzinfo=UTC)
SUMMER = datetime(2024, 7, 15, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "when", "expected"),
    [
        ("Europe/Kyiv", WINTER, "UTC+2"),
        ("Europe/Kyiv", SUMMER, "UTC+3"),
        ("UTC", SUMMER, "UTC"),
        ("Asia/Kolkata", WINTER, "UTC+5:30"),
        ("America/St_Johns", WINTER, "UTC-3:30"),
        ("America/New_York", WINTER, "UTC-5"),
        ("Etc/GMT-2", WINTER, "UTC+2"),
    ],
)
def test_offsets_read_as_intl_s_short_offset_writes_them(
    zone: str, when: datetime, expected: str
) -> None:
    assert utc_offset(ZoneInfo(zone), when) == expected


def test_the_note_names_the_city_in_the_column_s_language_and_today_s_offset() -> None:
    kyiv = Settings(timezone="Europe/Kyiv")
    assert zone_text(kyiv, "en", WINTER) == "All times Kyiv, UTC+2"
    assert zone_text(kyiv, "en", SUMMER) == "All times Kyiv, UTC+3"
    assert zone_text(kyiv, "uk", WINTER) == "Час: Київ, UTC+2"
    assert zone_text(kyiv, "ar", WINTER) == "جميع الأوقات بتوقيت كييف، UTC+2"
    assert zone_text(Settings(timezone="UTC"), "en") == "All times UTC"
    assert zone_text(Settings(timezone="Etc/GMT-2"), "uk") == "Час: UTC+2"
    assert exemplar_city("America/New_York", "uk") == "Нью-Йорк"
    assert exemplar_city("Etc/GMT-2", "en") is None


def test_the_note_carries_the_city_for_the_client_and_a_hidden_toggle() -> None:
    parent = ET.Element("div")
    note = zone_note(parent, Settings(timezone="Europe/Kyiv"), "uk")
    html = ET.tostring(parent, encoding="unicode", method="html")
    assert note.get("data-city") == "Київ"
    assert note.get("part") == "zone"
    assert 'class="zone-toggle"' in html
    assert 'aria-pressed="false"' in html
    button = note.find("button")
    assert button is not None
    assert button.get("hidden") == ""  # until the reader's zone is at another offset
