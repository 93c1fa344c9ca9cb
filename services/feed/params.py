"""What the feed service's endpoints share: the query parameters (section, label, limit,
before, at, after) and the answer when the timeline store is unreachable."""

from __future__ import annotations

import re
from collections.abc import Mapping

from services.feed.store import Cursor
from shared.models import ID_RULE, is_article_id, label_filter, lang_filter, section_filter
from shared.starlette_glue import ProblemError

_COUNT = re.compile(r"^[0-9]{1,6}$")  # ASCII digits only: str.isdigit() also takes "²"


def bad_query(name: str, reason: str) -> ProblemError:
    """A 400 problem naming the parameter."""
    return ProblemError(
        400, f"query parameter '{name}' {reason}", errors=[{"field": name, "reason": reason}]
    )


def store_down() -> ProblemError:
    """503: the timeline store (Redis) did not answer."""
    return ProblemError(
        503, "the timeline store (Redis) is unreachable", headers={"Retry-After": "5"}
    )


def section_param(query: Mapping[str, str]) -> str | None:
    """``section``: a slug (``shared.models.is_slug``), or None when absent or empty."""
    try:
        return section_filter(query.get("section"))
    except ValueError as exc:
        raise bad_query("section", str(exc)) from exc


def label_param(query: Mapping[str, str]) -> str | None:
    """``label`` (``shared.models.is_label``), lowercased as labels are stored; None if absent."""
    try:
        return label_filter(query.get("label"))
    except ValueError as exc:
        raise bad_query("label", str(exc)) from exc


def lang_param(query: Mapping[str, str]) -> str | None:
    """``lang``: an edition (a language tag's primary subtag: ``uk-UA`` → ``uk``), or None when
    absent or empty."""
    try:
        return lang_filter(query.get("lang"))
    except ValueError as exc:
        raise bad_query("lang", str(exc)) from exc


def limit_param(query: Mapping[str, str], default: int, maximum: int) -> int:
    """``limit``: a whole number from 1 to ``maximum``."""
    raw = query.get("limit", str(default))
    if not _COUNT.match(raw) or not 1 <= int(raw) <= maximum:
        raise bad_query("limit", f"must be a whole number from 1 to {maximum}")
    return int(raw)


def before_param(query: Mapping[str, str]) -> Cursor | None:
    """``before``: a cursor from a previous page's ``next``, or None when absent or empty."""
    raw = query.get("before")
    if not raw:
        return None
    try:
        return Cursor.decode(raw)
    except ValueError as exc:
        raise bad_query("before", str(exc)) from exc


def at_param(query: Mapping[str, str]) -> str | None:
    """``at``: the id of the headline a permalink shows (``shared.models.is_article_id``), or
    None when absent or empty; not with ``before`` or ``after`` (400 naming ``at``)."""
    raw = query.get("at")
    if not raw:
        return None
    if not is_article_id(raw):
        raise bad_query("at", f"must be an article id ({ID_RULE})")
    for other in ("before", "after"):
        if query.get(other):
            raise bad_query("at", f"cannot be combined with '{other}'")
    return raw


def after_param(query: Mapping[str, str]) -> Cursor | None:
    """``after``: a cursor from a previous answer's ``newer``, or None; not with ``before``."""
    raw = query.get("after")
    if not raw:
        return None
    if query.get("before"):
        raise bad_query("after", "cannot be combined with 'before'")
    try:
        return Cursor.decode(raw)
    except ValueError as exc:
        raise bad_query("after", str(exc).replace("'next'", "'newer'")) from exc
