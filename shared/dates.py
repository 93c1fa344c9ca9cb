"""Times as the seed page shows them: "2024, Thursday 24 October" and "16:55"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Fixed English names: the page must not depend on the server's locale.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


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


def day_label(local: datetime) -> str:
    """``2024, Thursday 24 October`` (no leading zero on the day)."""
    return f"{local.year}, {WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]}"


def local_time(local: datetime) -> str:
    """``16:55``: 24-hour local time."""
    return f"{local.hour:02d}:{local.minute:02d}"


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return to_ms(datetime.now(UTC))
