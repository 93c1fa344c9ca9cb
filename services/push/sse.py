"""``GET /v1/events``: the stream as Server-Sent Events, on the push port, from the same hub.

The push port's connections (connection.py) read every request; for ``/v1/events`` the
answer is a stream: the head below is written to the socket, and from then on the hub writes
SSE frames there exactly as it writes WebSocket frames to the others (same groups, same
backlog, same cut-off). The body is close-delimited (``Connection: close``, no chunking): the
stream ends when either side closes. Keep-alive comments come from the process's one timer
wheel, like the WebSocket pings.
"""

from __future__ import annotations

import random

from websockets.http11 import Request

from services.push.protocol import SSE_PREAMBLE_FMT
from services.push.query import QueryError
from shared.events import EventId

PATH = "/v1/events"
# EventSource reconnects after ``retry`` ms: a random value per stream spreads a fleet of
# readers dropped at once (a deploy, a proxy restart) instead of bringing them back in lock-step.
RETRY_MS = (1_000, 5_000)


def response_head(origin: str | None) -> bytes:
    """The status line, headers and preamble of an event stream (``origin``: an allowed CORS
    origin). The preamble's ``retry`` is random per stream, see RETRY_MS."""
    lines = [
        "HTTP/1.1 200 OK",
        "Content-Type: text/event-stream; charset=utf-8",
        "Cache-Control: no-store",
        # nginx and friends buffer responses by default, which would hold events back.
        "X-Accel-Buffering: no",
        "Connection: close",
        "Vary: Origin",
    ]
    if origin is not None:
        lines.append(f"Access-Control-Allow-Origin: {origin}")
    retry = random.randint(*RETRY_MS)  # noqa: S311 - jitter, not security
    return ("\r\n".join(lines) + "\r\n\r\n" + SSE_PREAMBLE_FMT.format(retry=retry)).encode()


def last_event_id(request: Request) -> EventId | None:
    """The ``Last-Event-ID`` header (as EventSource sends it on reconnect), None when absent or
    empty. When present it wins over ``?since=``, which is then not read at all (a stale or
    broken ``since`` in the URL EventSource keeps does not matter once it has an event id).

    Raises ``QueryError`` naming ``Last-Event-ID`` when the header is not an event id.
    """
    header = request.headers.get("Last-Event-ID")
    if not header:
        return None
    try:
        return EventId.parse(header)
    except ValueError as exc:
        raise QueryError("Last-Event-ID", str(exc)) from exc
