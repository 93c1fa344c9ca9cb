"""The HTTP protocol the feed service runs: uvicorn's, which also hands each request its transport.

ASGI gives an app no way to close a connection whose client stopped reading: ending the
response only asks uvicorn to close the transport once its buffer is flushed, which never
happens while the client's window is full. The SSE endpoint needs to abort such a client (see
sse.py), so this protocol puts the connection's transport in the request's scope under
``extensions``, the ASGI place for server-specific additions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

EXTENSION = "livefeed.transport"


class TransportHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the transport in ``scope["extensions"]``."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {EXTENSION: {"transport": self.transport}}


def transport_of(scope: Mapping[str, Any]) -> asyncio.Transport | None:
    """The request's transport, when the server is run with ``TransportHttpProtocol``."""
    extension = scope.get("extensions", {}).get(EXTENSION)
    transport: asyncio.Transport | None = extension["transport"] if extension else None
    return transport
