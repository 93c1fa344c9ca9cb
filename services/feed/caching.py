"""HTTP validators for the timeline, the feeds and the page: ETag, Last-Modified, 304.

Lifetimes are short (``LIVEFEED_CACHE_MAX_AGE``) so that a retracted headline leaves every
browser and proxy cache within seconds; the validators make the revalidation that follows cheap.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response

from shared.dates import now_ms


def etag_of(body: bytes) -> str:
    """A strong validator: the hash of the exact bytes sent."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def http_date(ms: int) -> str:
    """An IMF-fixdate (``Thu, 24 Oct 2024 16:55:00 GMT``) of an epoch-millisecond time."""
    return format_datetime(datetime.fromtimestamp(ms // 1000, tz=UTC), usegmt=True)


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    # Weak comparison (RFC 9110 13.1.2): a W/ prefix added by a proxy still matches.
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags


def _not_modified_since(header: str, last_modified_ms: int) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False  # an unreadable date is ignored, as RFC 9110 asks
    if since.tzinfo is None:
        return False
    return last_modified_ms // 1000 <= int(since.timestamp())


def cached(
    request: Request,
    body: bytes,
    media_type: str,
    *,
    max_age: int,
    last_modified_ms: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """``body`` with ETag (and Last-Modified), or 304 when the client's copy is current.

    A last change less than a second old makes no Last-Modified: HTTP dates count whole
    seconds, so another change within the same second would look unmodified to a client
    asking If-Modified-Since (RFC 9110 8.8.2.2 calls such a date a weak validator).
    """
    etag = etag_of(body)
    if last_modified_ms and now_ms() - last_modified_ms < 1000:
        last_modified_ms = None
    out = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age}, must-revalidate",
        **(headers or {}),
    }
    if last_modified_ms:
        out["Last-Modified"] = http_date(last_modified_ms)
    if_none_match = request.headers.get("if-none-match")
    if_modified_since = request.headers.get("if-modified-since")
    if if_none_match is not None:
        fresh = _etag_matches(if_none_match, etag)  # If-None-Match wins when both are sent
    elif if_modified_since is not None and last_modified_ms:
        fresh = _not_modified_since(if_modified_since, last_modified_ms)
    else:
        fresh = False
    if fresh:
        return Response(status_code=304, headers=out)
    return Response(body, media_type=media_type, headers=out)
