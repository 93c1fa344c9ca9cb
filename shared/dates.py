"""Times as the seed page shows them, in any language through CLDR (Babel): "2024, Thursday 24
October" and "16:55" in English, "2024, четвер 24 жовтня" in Ukrainian.

The layouts are CLDR date patterns kept in the catalogs (a translator may reorder them or use
the language's own comma); the names of days and months, and the digits, are CLDR's for the
language. English stays exactly the seed's layout.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from babel.dates import format_datetime

from shared.i18n import N_, gettext, interface

# Translators: CLDR date patterns (https://unicode.org/reports/tr35/tr35-dates.html). Keep
# the letters; reorder them and change the punctuation as the language writes dates.
DAY_HEADING = N_("y, EEEE")  # the first line of a day's header: "2024, Thursday"
DAY_DATE = N_("d MMMM")  # its second line: "24 October" (the month as in a date: "24 жовтня")
TIME = N_("HH:mm")  # a headline's time: "16:55"
FULL_DATE = N_("EEEE d MMMM y, HH:mm")  # a time's tooltip: "Thursday 24 October 2024, 19:31"
PATTERNS = {"day_heading": DAY_HEADING, "day_date": DAY_DATE, "time": TIME, "full": FULL_DATE}

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (the timeline's sort key), floored, in exact arithmetic.

    ``timestamp() * 1000`` loses precision far from 1970 and rounds toward zero before it.
    """
    return (moment - EPOCH) // _MS


def day_key(local: datetime) -> str:
    """``2024-10-24``: the day an item stands under."""
    return local.date().isoformat()


def formatted(local: datetime, pattern: str, lang: str = "en") -> str:
    """``local`` (already in the newsroom's zone) in the catalog's ``pattern`` for ``lang``."""
    code = interface(lang)
    return format_datetime(local, gettext(code, pattern), tzinfo=local.tzinfo, locale=code)


def day_heading(local: datetime, lang: str = "en") -> str:
    """``2024, Thursday``."""
    return formatted(local, DAY_HEADING, lang)


def day_date(local: datetime, lang: str = "en") -> str:
    """``24 October`` (no leading zero on the day)."""
    return formatted(local, DAY_DATE, lang)


def day_label(local: datetime, lang: str = "en") -> str:
    """``2024, Thursday 24 October``: the day's header on one line (the timeline's ``label``)."""
    return f"{day_heading(local, lang)} {day_date(local, lang)}"


def local_time(local: datetime, lang: str = "en") -> str:
    """``16:55``: 24-hour local time."""
    return formatted(local, TIME, lang)


def full_date(local: datetime, lang: str = "en") -> str:
    """``Thursday 24 October 2024, 19:31``: the date and time in full."""
    return formatted(local, FULL_DATE, lang)


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return to_ms(datetime.now(UTC))
