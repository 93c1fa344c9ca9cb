"""``GET /v1/events``: the stream as Server-Sent Events, on the push port, from the same hub.

The push port's connections (connection.py) read every request; for ``/v1/events`` the
answer is a stream: the head below is written to the socket, and from then on the hub writes
SSE frames there exactly as it writes WebSocket frames to the others (same groups, same
backlog, same cut-off). The body is close-delimited (``Connection: close``, no chunking): the
stream ends when either side closes. Keep-alive comments come from the process's one timer
wheel, like the WebSocket pings.
"""

from __future__ import annotations

from websockets.http11 import Request

from shared.events import EventId
from shared.frames import SSE_HEADERS, sse_preamble
from shared.stream_query import parse_last_event_id

PATH = "/v1/events"


def response_head(origin: str | None) -> bytes:
    """The status line, headers and preamble of an event stream (``origin``: an allowed CORS
    origin). The preamble's ``retry`` is random per stream (shared.frames.RETRY_MS)."""
    lines = [
        "HTTP/1.1 200 OK",
        *(f"{name}: {value}" for name, value in SSE_HEADERS.items()),
        "Connection: close",
        "Vary: Origin",
    ]
    if origin is not None:
        lines.append(f"Access-Control-Allow-Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + sse_preamble()


def last_event_id(request: Request) -> EventId | None:
    """The request's ``Last-Event-ID`` (shared.stream_query.parse_last_event_id)."""
    return parse_last_event_id(request.headers.get("Last-Event-ID"))
