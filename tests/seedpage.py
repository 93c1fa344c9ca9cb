"""Reading the seed page's "News" column into what the timeline must show.

``tests/fixtures/seed_page.txt`` is a verbatim copy of the handbook's
``shared/seed/000_215bacd0261e8eb0.txt``, kept in the repo so the tests do not depend on
where the handbook lies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SEED_PAGE = Path(__file__).resolve().parent / "fixtures" / "seed_page.txt"
_DAY_YEAR = re.compile(r"^(\d{4}), (\w+day)$")
_DAY_MONTH = re.compile(r"^(\d{1,2}) (\w+)$")
_TIME = re.compile(r"^\d{2}:\d{2}$")
LABELS = {"Exclusive", "OPINION", "Updated", "Review"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]  # fmt: skip


@dataclass
class SeedItem:
    """One headline of the column."""

    time: str
    title: str
    labels: list[str] = field(default_factory=list)


@dataclass
class SeedDay:
    """A date header and its headlines."""

    date: str  # 2024-10-24
    label: str  # 2024, Thursday 24 October
    items: list[SeedItem] = field(default_factory=list)


def read_column(path: Path = SEED_PAGE) -> list[SeedDay]:
    """The column between "News" and "More news", as days of items."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    start = next(i for i, line in enumerate(lines) if line.endswith("News") and "•" in line)
    days: list[SeedDay] = []
    i = start + 1
    pending_labels: list[str] = []
    while i < len(lines) and lines[i] != "More news":
        line = lines[i]
        year = _DAY_YEAR.match(line)
        if year and i + 1 < len(lines) and _DAY_MONTH.match(lines[i + 1]):
            day_month = _DAY_MONTH.match(lines[i + 1])
            assert day_month is not None
            day, month = int(day_month.group(1)), day_month.group(2)
            date = f"{year.group(1)}-{MONTHS.index(month) + 1:02d}-{day:02d}"
            days.append(SeedDay(date, f"{year.group(1)}, {year.group(2)} {day} {month}"))
            i += 2
            continue
        if _TIME.match(line):
            time = line
            i += 1
            pending_labels = []
            while lines[i] in LABELS:
                pending_labels.append(lines[i])
                i += 1
            days[-1].items.append(SeedItem(time, lines[i], pending_labels))
        i += 1
    return days
