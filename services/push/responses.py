"""Plain HTTP answers of the push service (``websockets`` answers them before any handshake).

``websockets`` closes the connection after any plain HTTP response, so each says so: otherwise
a keep-alive client (a load balancer's health probe, httpx) sends its next request into a
closing socket.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response

from shared.metrics import exposition
from shared.problems import PROBLEM_TYPE, problem_document

CLOSE = ("Connection", "close")


def json_response(
    status: int, body: dict[str, Any], content_type: str = "application/json"
) -> Response:
    """A JSON answer, never cached; a 503 carries ``Retry-After: 5``."""
    data = json.dumps(body).encode()
    headers = Headers(
        [("Content-Type", content_type), ("Content-Length", str(len(data))),
         ("Cache-Control", "no-store"), CLOSE]
    )  # fmt: skip
    if status == 503:
        headers["Retry-After"] = "5"
    return Response(status, HTTPStatus(status).phrase, headers, data)


def problem_response(
    status: int, detail: str, *, errors: Sequence[dict[str, Any]] = ()
) -> Response:
    """A problem+json answer (``shared.problems``)."""
    return json_response(status, problem_document(status, detail, errors=errors), PROBLEM_TYPE)


def metrics_response() -> Response:
    """``GET /metrics``: this process's metrics in the Prometheus text format."""
    body, content_type = exposition()
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))), CLOSE])
    return Response(200, "OK", headers, body)
