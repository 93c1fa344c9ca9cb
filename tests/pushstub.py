"""A local push service for tests and the bench: a real HTTP server that does what FCM or
Mozilla's autopush does with a message, and checks it as strictly.

Each request to ``/push/<name>`` must carry a valid VAPID (RFC 8292) ``Authorization: vapid
t=<JWT>, k=<key>``: signed by the expected public key, ``aud`` this server's origin, ``exp``
in the future and within 24 h, ``sub`` a mailto: or https: URL; plus ``TTL`` and an
``aes128gcm`` body (RFC 8291) that decrypts with the subscription's private key and auth
secret, which the stub made (real P-256 keys). What it received is kept per subscription.
A subscription can be told to answer 410, or 429 a number of times first.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import jwt as vapid_jwt

from shared.vapid import b64url_encode, public_point

_AUTH = re.compile(r"^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$")


@dataclass
class Received:
    """One message as the push service got it (decrypted)."""

    message: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.time() when it arrived


@dataclass
class StubSubscription:
    """A browser's side of a subscription: real keys, and what reached it."""

    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    received: list[Received] = field(default_factory=list)
    answer: int = 201
    fail_first: int = 0  # answer 429 this many times before ``answer``
    fail_status: int = 429
    requests: int = 0  # requests that reached it, whatever the answer

    @property
    def p256dh(self) -> str:
        return b64url_encode(public_point(self.private_key.public_key()))

    @property
    def auth(self) -> str:
        return b64url_encode(self.auth_secret)

    @property
    def json(self) -> dict[str, Any]:
        """As ``PushSubscription.toJSON()`` gives it."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        }

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [r.message for r in self.received if kind is None or r.message["type"] == kind]


class PushServiceStub:
    """The server (its own thread and event loop) and the subscriptions it serves."""

    def __init__(self, vapid_public_key: str) -> None:
        self.vapid_public_key = vapid_public_key
        self.subscriptions: dict[str, StubSubscription] = {}
        self.rejected: list[str] = []  # why requests were refused (bad JWT, undecryptable…)
        self.requests = 0
        self.connections: set[int] = set()  # client ports seen: connection reuse
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PushServiceStub:
        self._thread.start()
        assert self._ready.wait(10), "push service stub did not start"
        return self

    def stop(self) -> None:
        async def cleanup() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def subscription(self, name: str | None = None) -> StubSubscription:
        """A new subscription with fresh keys, as a browser would create it."""
        name = name or os.urandom(8).hex()
        sub = StubSubscription(
            name,
            f"{self.origin}/push/{name}",
            ec.generate_private_key(ec.SECP256R1()),
            os.urandom(16),
        )
        self.subscriptions[name] = sub
        return sub

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/push/{name}", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        self._loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.rejected.append(reason)
        return web.Response(status=status, text=reason)

    async def _push(self, request: web.Request) -> web.Response:
        self.requests += 1
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.connections.add(peer[1])
        sub = self.subscriptions.get(request.match_info["name"])
        if sub is None:
            return web.Response(status=404)
        sub.requests += 1
        problem = self._check_vapid(request.headers.get("Authorization", ""))
        if problem:
            return self._refuse(401, problem)
        if "TTL" not in request.headers:
            return self._refuse(400, "no TTL header")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return self._refuse(415, "not aes128gcm")
        topic = request.headers.get("Topic")
        if topic is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", topic):
            return self._refuse(400, f"Topic {topic!r} is not <= 32 URL-safe base64 characters")
        if request.headers.get("Urgency", "normal") not in {"very-low", "low", "normal", "high"}:
            return self._refuse(400, "bad Urgency")
        body = await request.read()
        if len(body) > 4096:
            return self._refuse(413, "payload over 4096 bytes")
        if sub.fail_first > 0:
            sub.fail_first -= 1
            return web.Response(status=sub.fail_status, headers={"Retry-After": "0"})
        if sub.answer >= 300:
            return web.Response(status=sub.answer)
        try:
            plain = http_ece.decrypt(
                body, private_key=sub.private_key, auth_secret=sub.auth_secret, version="aes128gcm"
            )
            message = json.loads(plain)
        except Exception as exc:  # noqa: BLE001 - any failure to decrypt is a refusal
            return self._refuse(400, f"cannot decrypt: {exc!r}")
        headers = {
            k: request.headers[k] for k in ("TTL", "Urgency", "Topic") if k in request.headers
        }
        sub.received.append(Received(message, headers, time.time()))
        return web.Response(status=sub.answer, headers={"Location": f"/m/{self.requests}"})

    def _check_vapid(self, header: str) -> str | None:
        match = _AUTH.match(header)
        if match is None:
            return f"Authorization is not 'vapid t=…, k=…': {header!r}"
        token, key = match.groups()
        if key != self.vapid_public_key:
            return "k is not the application server key the browser subscribed with"
        try:
            claims = vapid_jwt.decode(token, key)
        except Exception as exc:  # noqa: BLE001 - any bad token is a refusal
            return f"JWT signature does not verify: {exc!r}"
        if claims.get("aud") != self.origin:
            return f"aud {claims.get('aud')!r} is not {self.origin}"
        exp = int(claims.get("exp", 0))
        if not time.time() < exp <= time.time() + 24 * 3600:
            return f"exp {exp} not within the next 24 h"
        if not re.match(r"^(mailto:|https://)", str(claims.get("sub", ""))):
            return "sub is not a mailto: or https: URL"
        return None
