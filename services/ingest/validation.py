"""Pydantic's validation errors as the ``{"field", "reason"}`` pairs every rejection names."""

from __future__ import annotations

from pydantic import ValidationError


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("labels", 2)`` → ``labels[2]``; the whole item → ``body``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path and not path.endswith(".") else str(part)
    return path or "body"


def errors_of(exc: ValidationError) -> list[dict[str, str]]:
    """Each pydantic error as ``{"field", "reason"}`` (no input echoed back)."""
    return [
        # "Value error, " is pydantic's wrapping of our own messages: the reason alone reads better.
        {
            "field": field_path(tuple(err["loc"])),
            "reason": err["msg"].removeprefix("Value error, "),
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]
