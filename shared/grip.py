"""GRIP (the Generic Realtime Intermediary Protocol): every header and publish format livefeed
speaks with a GRIP proxy (Pushpin, Fastly Fanout), in one place, through Fanout's gripcontrol.

The proxy holds the readers' connections; the origin (the feed service: services/feed/grip.py)
answers each reader once, with the catch-up it owes it and an instruction to hold the
connection on the reader's **channel**, and the grip-publisher (services/grip/) publishes each
event once per affected channel. A channel is a reader filter: ``lf/<section>/<label>/<lang>``,
``*`` where the reader did not filter.

Reliability (GRIP's reliable mode): each published item carries ``id`` (the event id) and
``prev-id`` (the event published on that channel before it, ``0-0`` for none); a held stream
tells the proxy the channel's last id the reader has and a ``Grip-Link`` (``rel=next``) to ask
the origin again from there. A proxy that sees an item whose ``prev-id`` is not the last id it
has (it missed one: a restart, a lost publish) asks the origin, which answers what was missed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import jwt
from gripcontrol import (
    Channel,
    HttpResponseFormat,
    HttpStreamFormat,
    WebSocketEvent,
    WebSocketMessageFormat,
    create_grip_channel_header,
    decode_websocket_events,
    encode_websocket_events,
    parse_grip_uri,
    validate_sig,
    websocket_control_message,
)
from pubcontrol import Item

from shared.events import ZERO, EventId, FilterKey

CHANNEL_PREFIX = "lf"
ANY = "*"  # a channel's part where the reader did not filter (no section, label or lang is *)

SIG_HEADER = "Grip-Sig"
FEATURE_HEADER = "Grip-Feature"  # Pushpin names what it supports on every request it proxies
LAST_HEADER = "Grip-Last"  # the proxy's last id per channel, when it asks a next link
KEEP_ALIVE_S = 20  # the proxy writes the SSE keep-alive comment after this much silence
LONG_POLL_S = 50  # a long-poll held this long is answered "nothing new" (under common 60 s)
WS_EVENTS_TYPE = "application/websocket-events"
WS_BODY_MAX = 64 * 1024  # a WebSocket-over-HTTP request's events (readers only listen)
# Control messages are "c:"-prefixed; with an empty message prefix every other message the
# origin sends (JSON objects: "{…") goes to the reader as is.
WS_EXTENSION = 'grip; message-prefix=""'
PUBLISH_PATH = "/publish/"
PUBLISH_JWT_TTL_S = 3600


def channel_name(key: FilterKey) -> str:
    """A reader filter's channel: ``lf/<section|*>/<label|*>/<lang|*>``."""
    section, label, lang = key
    return f"{CHANNEL_PREFIX}/{section or ANY}/{label or ANY}/{lang or ANY}"


def channel_key(name: str) -> FilterKey | None:
    """The filter of a channel named by ``channel_name``; None for any other name."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != CHANNEL_PREFIX:
        return None
    section, label, lang = (None if part == ANY else part for part in parts[1:])
    return section, label, lang


# -- the origin's answers ------------------------------------------------------------------------


def signature_valid(token: str | None, key: str, iss: str | None = None) -> bool:
    """Whether ``Grip-Sig`` is a JWT signed with ``key`` (the proxy's sig_key, or Fastly
    Fanout's public key), not expired, and issued by ``iss`` when one is given."""
    return bool(token) and bool(validate_sig(token, key, iss))


def via_proxy(headers: Mapping[str, str]) -> bool:
    """Whether a request came through a GRIP proxy (it signs, or says what it supports)."""
    return SIG_HEADER in headers or FEATURE_HEADER in headers


def _channel_header(channel: str, prev_id: EventId) -> str:
    return cast(str, create_grip_channel_header(Channel(channel, prev_id=str(prev_id))))


def stream_hold(channel: str, prev_id: EventId, next_link: str) -> dict[str, str]:
    """Hold an SSE response open on ``channel``: the proxy appends what is published there,
    writes the keep-alive comment, and asks ``next_link`` (the same stream from the last event
    sent) whenever an item's ``prev-id`` shows it missed one."""
    return {
        "Grip-Hold": "stream",
        "Grip-Channel": _channel_header(channel, prev_id),
        # cstring: the \\n escapes are newlines (shared.frames.SSE_KEEPALIVE).
        "Grip-Keep-Alive": f": keep-alive\\n\\n; format=cstring; timeout={KEEP_ALIVE_S}",
        "Grip-Link": f"<{next_link}>; rel=next",
    }


def response_hold(channel: str, prev_id: EventId) -> dict[str, str]:
    """Hold a long-poll on ``channel``: the first item published there is its answer, else the
    response given (nothing new) after LONG_POLL_S."""
    return {
        "Grip-Hold": "response",
        "Grip-Channel": _channel_header(channel, prev_id),
        "Grip-Timeout": str(LONG_POLL_S),
    }


def last_ids(headers: Iterable[str]) -> dict[str, EventId]:
    """``Grip-Last: <channel>; last-id=<id>`` headers as channel → id (bad ones left out)."""
    out: dict[str, EventId] = {}
    for header in headers:
        for part in header.split(","):
            name, _, params = part.strip().partition(";")
            key, _, value = params.strip().partition("=")
            if key.strip() == "last-id":
                try:
                    out[name.strip()] = EventId.parse(value.strip())
                except ValueError:
                    continue
    return out


# -- WebSocket-over-HTTP -------------------------------------------------------------------------


@dataclass(frozen=True)
class WsEvent:
    """One WebSocket-over-HTTP event: ``OPEN``, ``TEXT``, ``CLOSE``, ``DISCONNECT``, …"""

    type: str
    content: bytes | None = None


def ws_events(body: bytes) -> list[WsEvent]:
    """A request body of WebSocket events; ValueError when it is not one."""
    try:
        events = decode_websocket_events(body)
    except (ValueError, IndexError) as exc:
        raise ValueError("not a body of WebSocket-over-HTTP events") from exc
    return [WsEvent(str(e.type), e.content) for e in events]


def ws_body(events: Iterable[WsEvent]) -> bytes:
    """WebSocket events as a response body."""
    return cast(bytes, encode_websocket_events([WebSocketEvent(e.type, e.content) for e in events]))


def ws_text(text: bytes) -> WsEvent:
    """A text message to the reader."""
    return WsEvent("TEXT", text)


def ws_subscribe(channel: str) -> WsEvent:
    """The control message that subscribes this connection to ``channel``."""
    control = websocket_control_message("subscribe", {"channel": channel})
    return WsEvent("TEXT", b"c:" + control.encode())


# -- publishing ----------------------------------------------------------------------------------


def publish_item(
    channel: str,
    event_id: EventId,
    prev_id: EventId,
    *,
    sse: bytes,
    ws: bytes,
    long_poll: bytes,
) -> dict[str, Any]:
    """One event for one channel, in each transport's format: the SSE message for held
    streams, the WebSocket message, and the long-poll's whole answer (a JSON body)."""
    formats = [
        HttpStreamFormat(sse.decode()),
        WebSocketMessageFormat(ws.decode()),
        HttpResponseFormat(
            code=200,
            headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
            body=long_poll.decode(),
        ),
    ]
    item = Item(formats, id=str(event_id), prev_id=str(prev_id or ZERO))
    return {"channel": channel, **item.export()}


@dataclass(frozen=True)
class PublishTarget:
    """A publish endpoint from a GRIP URL: ``<base>/publish/``, with a bearer token (``key``),
    or a JWT signed with ``key`` when the URL names an ``iss``."""

    url: str  # as configured: the metrics label (its key and any user:password@ left out)
    endpoint: str
    key: bytes | str | None = field(default=None, repr=False)
    iss: str | None = None

    @classmethod
    def parse(cls, url: str) -> PublishTarget:
        config = parse_grip_uri(url)
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]  # no credentials in a label
        label = f"{parts.scheme}://{host}{parts.path}"
        base = str(config["control_uri"]).rstrip("/")
        return cls(label, base + PUBLISH_PATH, config.get("key"), config.get("control_iss"))

    def headers(self) -> dict[str, str]:
        """The request's Authorization, if the URL carries a key."""
        if self.key is None:
            return {}
        if self.iss is None:
            key = self.key.decode() if isinstance(self.key, bytes) else self.key
            return {"Authorization": f"Bearer {key}"}
        claim = {"iss": self.iss, "exp": int(time.time()) + PUBLISH_JWT_TTL_S}
        return {"Authorization": "Bearer " + jwt.encode(claim, self.key, algorithm="HS256")}
