"""The stream protocol's messages as text: what a reader receives, whoever frames it.

Push frames these for its own sockets (services/push/protocol.py: a WebSocket text frame, or
the SSE bytes below as they are); behind a GRIP proxy the feed service answers with them and
the grip-publisher publishes them (shared/grip.py), so a reader gets the same bytes either way.

An SSE message is ``id:`` (the event id), ``event:`` (the type) and one ``data:`` line; ``hello``
has no ``id:`` (resuming must never skip to it); ``reset``'s ``id:`` is where the stream goes on
from, so that the browser's next ``Last-Event-ID`` is one the log still has.
"""

from __future__ import annotations

import random

from shared.events import Event, EventId

RESET_TEXT = '{"type":"reset"}'
SSE_PREAMBLE_FMT = "retry: {retry}\n: livefeed events\n\n"
SSE_KEEPALIVE = b": keep-alive\n\n"
# An event stream's response headers (push's own, and feed's answers behind a GRIP proxy); nginx
# and friends buffer responses by default, which would hold events back.
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",
}
# EventSource reconnects after ``retry`` ms: a random value per stream spreads a fleet of
# readers dropped at once (a deploy, a proxy restart) instead of bringing them back in lock-step.
RETRY_MS = (1_000, 5_000)


def sse_preamble() -> bytes:
    """The first bytes of every event stream: its ``retry`` (random, see RETRY_MS), a comment."""
    retry = random.randint(*RETRY_MS)  # noqa: S311 - jitter, not security
    return SSE_PREAMBLE_FMT.format(retry=retry).encode()


def hello_text(event_id: EventId) -> str:
    """The first message on every connection: the newest event the stream has reached."""
    return f'{{"type":"hello","event_id":"{event_id}"}}'


def sse_hello(event_id: EventId) -> bytes:
    """``hello`` as an SSE message (no ``id:``: resuming must never skip to it)."""
    return b"event: hello\ndata: %s\n\n" % hello_text(event_id).encode()


def sse_reset(continue_from: EventId) -> bytes:
    """``reset`` as an SSE message; its ``id:`` is where the stream goes on from."""
    head = b"id: %s\nevent: reset\n" % str(continue_from).encode()
    return head + b"data: %s\n\n" % RESET_TEXT.encode()


def sse_frame(event: Event) -> bytes:
    """One event as an SSE message: ``id``, ``event`` (its type) and one ``data`` line."""
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (str(event.id).encode(), event.kind, event.text)


def updates_body(event_id: EventId, texts: list[bytes]) -> bytes:
    """A long-poll's answer (``GET /v1/updates``): the stream's messages after ``since``, and
    the ``event_id`` to poll ``since`` next."""
    return b'{"event_id":"%s","events":[%s]}' % (str(event_id).encode(), b",".join(texts))
