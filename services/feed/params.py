"""Query parameters the feed service's endpoints share: section, label, limit."""

from __future__ import annotations

import re
from collections.abc import Mapping

from shared.http import ProblemError

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LABEL = re.compile(r"^[A-Za-z0-9-]{1,32}$")
_COUNT = re.compile(r"^[0-9]{1,6}$")  # ASCII digits only: str.isdigit() also takes "²"


def bad_query(name: str, reason: str) -> ProblemError:
    """A 400 problem naming the parameter."""
    return ProblemError(
        400, f"query parameter '{name}' {reason}", errors=[{"field": name, "reason": reason}]
    )


def section_param(query: Mapping[str, str]) -> str | None:
    """``section``: a slug, or None when absent or empty."""
    section = query.get("section") or None
    if section is not None and not SLUG.match(section):
        raise bad_query("section", "must be a section slug")
    return section


def label_param(query: Mapping[str, str]) -> str | None:
    """``label``: 1-32 letters, digits or '-', lowercased as labels are stored."""
    label = query.get("label") or None
    if label is not None and not LABEL.match(label):
        raise bad_query("label", "must be 1-32 letters, digits or '-'")
    return label.lower() if label else None


def limit_param(query: Mapping[str, str], default: int, maximum: int) -> int:
    """``limit``: a whole number from 1 to ``maximum``."""
    raw = query.get("limit", str(default))
    if not _COUNT.match(raw) or not 1 <= int(raw) <= maximum:
        raise bad_query("limit", f"must be a whole number from 1 to {maximum}")
    return int(raw)
