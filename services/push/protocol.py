"""The stream protocol's fixed parts, defined once and framed for each transport.

Both transports carry the same JSON messages (see docs/stream.md):
``hello`` first, then event frames (``published`` / ``updated`` / ``corrected`` (an update
with its ``correction`` note) / ``retracted``, with
``"reason": "filter"`` when an update took the article out of the subscriber's filter), and
``reset`` when ``since`` is older than the log keeps. A WebSocket message is one text frame; an
SSE message is ``id:`` (the event id), ``event:`` (the type) and one ``data:`` line.

Close codes (WebSocket; an SSE stream simply ends, or is aborted when its reader is too slow):
1001 going away (shutdown), 1008 too slow, 1011 internal error, 1012 stream gap. After each,
a client reconnects with ``since`` (SSE: ``Last-Event-ID``, which EventSource sends itself).
"""

from __future__ import annotations

from websockets.frames import Frame, Opcode

from shared.events import Event, EventId
from shared.frames import RESET_TEXT, hello_text, sse_frame, sse_hello, sse_reset

GOING_AWAY = (1001, "going away: reconnect elsewhere with since")
TOO_SLOW = (1008, "too slow: reconnect with since")
REPLAY_FAILED = (1011, "replay unavailable: reconnect with since")
STREAM_GAP = (1012, "stream gap: reconnect with since")

# The server's keep-alive ping: empty, always the same, written as is. Any bytes from the client
# (its pong, or anything else) show it is alive.
WS_PING = Frame(Opcode.PING, b"").serialize(mask=False)


def ws_frame(text: bytes) -> bytes:
    """A complete server-to-client WebSocket text frame (unmasked, uncompressed)."""
    return Frame(Opcode.TEXT, text).serialize(mask=False)


def ws_hello(event_id: EventId) -> bytes:
    """``hello`` as a WebSocket frame."""
    return ws_frame(hello_text(event_id).encode())


class Frames:
    """One event framed for each transport and each audience, each made at most once."""

    __slots__ = ("_cache", "event")

    def __init__(self, event: Event) -> None:
        self.event = event
        self._cache: dict[tuple[bool, bool], bytes] = {}

    def get(self, sse: bool, left: bool = False) -> bytes:
        """The frame for a transport (``sse``), for subscribers whose filter it ``left``."""
        frame = self._cache.get((sse, left))
        if frame is None:
            event = self.event.left() if left else self.event
            frame = self._cache[(sse, left)] = sse_frame(event) if sse else ws_frame(event.text)
        return frame


def hello_frame(event_id: EventId, sse: bool) -> bytes:
    """``hello`` framed for a transport."""
    return sse_hello(event_id) if sse else ws_hello(event_id)


def reset_frame(continue_from: EventId, sse: bool) -> bytes:
    """``reset`` framed for a transport."""
    return sse_reset(continue_from) if sse else ws_frame(RESET_TEXT.encode())


def frame_of(event: Event, sse: bool) -> bytes:
    """One (already audience-specific) event framed for a transport."""
    return sse_frame(event) if sse else ws_frame(event.text)
