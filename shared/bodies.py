"""Reading a request body safely: size limit, content type, JSON decoding (ingest's articles,
the feed's alert subscriptions)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from shared.starlette_glue import ProblemError


def media_type(request: Request) -> str:
    """The request's media type without parameters, lower-cased."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise ProblemError(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int) -> ProblemError:
    """413, naming the body."""
    return ProblemError(
        413,
        f"the body is larger than {limit} bytes",
        errors=[{"field": "body", "reason": f"over {limit} bytes"}],
    )


def parse_json(body: bytes) -> Any:
    """Decode JSON, answering 400 for anything that is not well-formed UTF-8 JSON."""
    if not body.strip():
        raise ProblemError(400, "the body is empty", errors=[{"field": "body", "reason": "empty"}])
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProblemError(
            400, "the body is not valid JSON", errors=[{"field": "body", "reason": str(exc)}]
        ) from exc
