"""Blocking subscribers for the model test: each reads its stream in a thread of its own.

The state machine is synchronous (hypothesis drives it step by step), so the WebSocket and SSE
readers run in threads and collect every message; a check waits on a condition, never a sleep.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from typing import Any
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import ClientConnection, connect


class Subscriber:
    """Messages received so far (the hello first), filled by a reader thread."""

    kind = "?"

    def __init__(self, section: str | None, label: str | None, since: str | None) -> None:
        self.section = section
        self.label = label
        self.since = since
        self.messages: list[dict[str, Any]] = []
        self.error: str | None = None
        self.closed = False
        self.cond = threading.Condition()
        self.thread: threading.Thread | None = None

    def _add(self, message: dict[str, Any]) -> None:
        with self.cond:
            self.messages.append(message)
            self.cond.notify_all()

    def _end(self, error: str | None) -> None:
        with self.cond:
            self.closed = True
            if error and not self.error:
                self.error = error
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float) -> list[dict[str, Any]]:
        """Messages once at least ``count`` arrived (or the deadline passed, or it closed)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.messages) < count and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return list(self.messages)

    def describe(self) -> str:
        """For failure messages."""
        return f"{self.kind}(section={self.section}, label={self.label}, since={self.since})"

    def close(self) -> None:
        """Stop reading."""
        raise NotImplementedError


class WsSubscriber(Subscriber):
    """``WS /v1/stream?since=&section=&label=``."""

    kind = "ws"

    def __init__(
        self, base: str, section: str | None, label: str | None, since: str | None
    ) -> None:
        super().__init__(section, label, since)
        params = {"since": since, "section": section, "label": label}
        query = urlencode({k: v for k, v in params.items() if v is not None})
        self.url = f"{base}?{query}" if query else base
        self.conn: ClientConnection = connect(self.url, open_timeout=5, max_size=2**22, legacy=True)
        self.thread = threading.Thread(target=self._run, daemon=True, name="model-ws")
        self.thread.start()

    def _run(self) -> None:
        error = None
        try:
            while True:
                self._add(json.loads(self.conn.recv()))
        except ConnectionClosedOK:
            pass
        except Exception as exc:  # noqa: BLE001 - recorded, reported by the check
            error = f"{type(exc).__name__}: {exc}"
        code = self.conn.close_code
        if error is None and code not in (None, 1000) and not self.closed:
            error = f"closed by the server: {code} {self.conn.close_reason}"
        self._end(error)

    def close(self) -> None:
        """Close the WebSocket (clean close)."""
        self.closed = True
        with contextlib.suppress(Exception):
            self.conn.close()
        if self.thread is not None:
            self.thread.join(5)


class SseSubscriber(Subscriber):
    """``GET /v1/events`` (push service): ``since`` as the query or as ``Last-Event-ID``."""

    kind = "sse"

    def __init__(
        self,
        port: int,
        section: str | None,
        label: str | None,
        since: str | None,
        header: bool,
    ) -> None:
        super().__init__(section, label, since)
        self.header = header
        params = {"section": section, "label": label}
        if since is not None and not header:
            params["since"] = since
        query = urlencode({k: v for k, v in params.items() if v is not None})
        headers = {"Accept": "text/event-stream"}
        if since is not None and header:
            headers["Last-Event-ID"] = since
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.http.request("GET", f"/v1/events?{query}", headers=headers)
        # The stream is close-delimited: http.client hands the socket to the response and
        # forgets it, so keep it to set its timeout and to shut it.
        self.sock = self.http.sock
        self.response = self.http.getresponse()
        if self.response.status != 200:
            body = self.response.read()[:500]
            raise AssertionError(f"SSE refused: {self.response.status} {body!r}")
        assert self.sock is not None
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=self._run, daemon=True, name="model-sse")
        self.thread.start()

    def _run(self) -> None:
        error = None
        event, event_id, data = "message", None, []
        try:
            while True:
                raw = self.response.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\r\n")
                if line == "":
                    if data:
                        message = json.loads("\n".join(data))
                        message.setdefault("_sse_event", event)
                        message["_sse_id"] = event_id
                        self._add(message)
                    event, event_id, data = "message", None, []
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    event = value
                elif name == "id":
                    event_id = value
                elif name == "data":
                    data.append(value)
        except Exception as exc:  # noqa: BLE001 - recorded, reported by the check
            if not self.closed:
                error = f"{type(exc).__name__}: {exc}"
        if error is None and not self.closed:
            error = "the server ended the stream"
        self._end(error)

    def close(self) -> None:
        """Shut the socket: the reader thread wakes and ends."""
        self.closed = True
        sock = getattr(self, "sock", None) or self.http.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self.thread is not None:
            self.thread.join(5)
        with contextlib.suppress(Exception):
            self.http.close()
