"""Problem documents (RFC 9457, ``application/problem+json``): the body of every error answer.

Pure data, one title per status. The Starlette services wrap it in a response
(``shared.starlette_glue.problem``), the push service in a ``websockets`` one
(``services.push.responses.problem_response``), the worker's metrics port in a WSGI one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PROBLEM_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid article",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def problem_document(
    status: int, detail: str, *, errors: Sequence[dict[str, Any]] = (), **extra: Any
) -> dict[str, Any]:
    """The document: ``type``, ``title``, ``status``, ``detail``, then ``errors`` (each bad
    field as ``{"field", "reason"}``) when there are any, then ``extra`` members."""
    doc: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        doc["errors"] = list(errors)
    doc.update(extra)
    return doc
