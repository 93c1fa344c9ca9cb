"""The Pushpin harness (tests/pushpin.py) against a tiny real origin, and how to use it.

The origin is a stdlib HTTP server on a free port: ``GET /s`` answers a first line and holds the
response as a GRIP stream on channel ``test``. A reader reads through Pushpin, a publish to
Pushpin's publish endpoint reaches it, and after ``restart()`` a reader reconnecting to the same
address is held and published to again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.grip.conftest import PushpinFactory
from tests.procs import QuietHandler, ThreadServer
from tests.pushpin import Pushpin

KEY = "harness-test-grip-key-0123456789"
CHANNEL = "test"


class Origin(ThreadServer):
    """GRIP origin: ``/s`` holds a stream on ``test``; records each ``Grip-Sig`` it is sent."""

    def __init__(self) -> None:
        self.grip_sigs: list[str | None] = []
        origin = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                held = self.path == "/s"
                body = b"first\n" if held else b"not here\n"
                self.send_response(200 if held else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                if held:
                    origin.grip_sigs.append(self.headers.get("Grip-Sig"))
                    self.send_header("Grip-Hold", "stream")
                    self.send_header("Grip-Channel", CHANNEL)
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()


def publish(pushpin: Pushpin, item_id: str, content: str) -> None:
    """One ``http-stream`` item on ``test`` through Pushpin's HTTP publish endpoint."""
    item = {"channel": CHANNEL, "id": item_id, "formats": {"http-stream": {"content": content}}}
    answer = httpx.post(pushpin.publish_url + "/publish/", json={"items": [item]}, timeout=5)
    assert answer.status_code == 200, answer.text


def read_stream(pushpin: Pushpin, item_id: str, content: str) -> list[str]:
    """Open ``/s`` through Pushpin, publish once the first line is in, return both lines."""
    lines: list[str] = []
    with httpx.stream("GET", pushpin.url + "/s", timeout=10) as response:
        assert response.status_code == 200, (response.read(), pushpin.log_text())
        for line in response.iter_lines():
            lines.append(line)
            if len(lines) == 1:
                # Pushpin subscribes the reader before it sends the origin's first line.
                publish(pushpin, item_id, content)
            if len(lines) == 2:
                break
    return lines


def jwt_claims(token: str, key: str) -> dict[str, Any]:
    """The claims of an HS256 JWT, after checking its signature with ``key``."""
    header, payload, signature = token.split(".")

    def unpad(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    assert json.loads(unpad(header))["alg"] == "HS256"
    expected = hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(unpad(signature), expected), "Grip-Sig not signed with the key"
    claims: dict[str, Any] = json.loads(unpad(payload))
    return claims


def test_a_reader_through_pushpin_gets_the_held_stream_and_a_publish_also_after_restart(
    origin: Origin, pushpin_for: PushpinFactory
) -> None:
    pushpin = pushpin_for(origin.port, sig_key=KEY)
    assert read_stream(pushpin, "1", "second\n") == ["first", "second"], pushpin.log_text()

    # Pushpin signed its request to the origin with the key it was given.
    [sig] = origin.grip_sigs
    assert sig is not None
    claims = jwt_claims(sig, KEY)
    assert claims["iss"] == "pushpin"
    assert claims["exp"] > time.time()

    http_port, publish_url = pushpin.http_port, pushpin.publish_url
    pushpin.restart()
    assert (pushpin.http_port, pushpin.publish_url) == (http_port, publish_url)
    assert read_stream(pushpin, "2", "third\n") == ["first", "third"], pushpin.log_text()


def test_without_a_key_pushpin_does_not_sign(origin: Origin, pushpin_for: PushpinFactory) -> None:
    pushpin = pushpin_for(origin.port)
    assert read_stream(pushpin, "1", "second\n") == ["first", "second"], pushpin.log_text()
    assert origin.grip_sigs == [None]
