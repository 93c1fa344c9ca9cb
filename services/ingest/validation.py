"""Validating posted items one by one, so a batch can say exactly which were rejected and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from shared.models import Article


@dataclass
class Checked:
    """One posted item after validation: an article, or the reasons it was rejected."""

    index: int
    article: Article | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    raw_id: str | None = None


def field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """``("labels", 2)`` → ``labels[2]``, under ``prefix`` (``articles[3].``) for batches."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path and not path.endswith(".") else str(part)
    return path or prefix.rstrip(".") or "body"


def errors_of(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Each pydantic error as ``{"field", "reason"}`` (no input echoed back)."""
    return [
        # "Value error, " is pydantic's wrapping of our own messages: the reason alone reads better.
        {
            "field": field_path(tuple(err["loc"]), prefix),
            "reason": err["msg"].removeprefix("Value error, "),
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]


def check_article(raw: Any, index: int, prefix: str = "") -> Checked:
    """Validate one item of a request."""
    raw_id = raw.get("id") if isinstance(raw, dict) else None
    checked = Checked(index=index, raw_id=raw_id if isinstance(raw_id, str) else None)
    if not isinstance(raw, dict):
        checked.errors = [{"field": prefix.rstrip(".") or "body", "reason": "must be an object"}]
        return checked
    try:
        checked.article = Article.model_validate(raw)
    except ValidationError as exc:
        checked.errors = errors_of(exc, prefix)
    return checked
