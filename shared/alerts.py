"""Breaking-news alert subscriptions: what a reader's browser may register, and where it is kept.

The feed service stores subscriptions (``POST``/``DELETE /v1/push-subscriptions``); the
notifier reads them. A subscription is the browser's ``PushSubscription`` (endpoint and keys)
and the reader's filter, nothing else: no address, no cookie, no user agent.

Filters: ``breaking`` (the default: articles labelled ``breaking``, i.e. ninjs urgency 1-2,
``Article.breaking``) or ``section:<slug>`` (every new article of that section).

Endpoints are where the notifier will send requests, so they are checked against
``LIVEFEED_PUSH_SERVICES`` (no SSRF): https on a known push service's host, or an exact origin
an operator listed (a private push service; http allowed there only). IP literals outside the
public internet are refused unless listed exactly.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aredis

from shared import keys
from shared.models import SLUG_RULE, is_slug
from shared.settings import Settings
from shared.vapid import AUTH_SECRET_BYTES, b64url_decode, load_public

BREAKING = "breaking"
MAX_ENDPOINT_CHARS = 2048


class SubscriptionError(ValueError):
    """A subscription request that cannot be stored: each bad field as ``{field, reason}``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['reason']}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Subscription:
    """One browser's push subscription and what it asked to be alerted to."""

    endpoint: str
    p256dh: str
    auth: str
    filter: str = BREAKING

    @property
    def sid(self) -> str:
        """The stored id: a digest of the endpoint (the same browser subscribing again is one)."""
        return subscription_id(self.endpoint)

    @property
    def info(self) -> dict[str, Any]:
        """As pywebpush takes it."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    @classmethod
    def from_hash(cls, fields: dict[bytes, bytes]) -> Subscription | None:
        """From its stored hash (None for a hash that is gone or incomplete)."""
        try:
            return cls(
                fields[b"endpoint"].decode(),
                fields[b"p256dh"].decode(),
                fields[b"auth"].decode(),
                fields.get(b"filter", BREAKING.encode()).decode(),
            )
        except KeyError:
            return None


def subscription_id(endpoint: str) -> str:
    """32 hex digits of the SHA-256 of the endpoint."""
    return hashlib.sha256(endpoint.encode()).hexdigest()[:32]


def section_filter_name(section: str) -> str:
    """The filter of a section's subscribers."""
    return f"section:{section}"


def filters_for(sections: tuple[str, ...], labels: tuple[str, ...]) -> list[str]:
    """The filters an article with these sections and labels alerts."""
    names = [section_filter_name(s) for s in sections]
    if BREAKING in labels:
        names.insert(0, BREAKING)
    return names


def endpoint_problem(endpoint: str, settings: Settings) -> str | None:
    """Why the notifier must not send to ``endpoint`` (None: it may)."""
    if len(endpoint) > MAX_ENDPOINT_CHARS:
        return f"at most {MAX_ENDPOINT_CHARS} characters"
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return "not a URL"
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None:
        return "must be a push service URL without credentials"
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    listed_origins = {s.rstrip("/").lower() for s in settings.push_services if "://" in s}
    if origin in listed_origins:
        return None
    if parts.scheme != "https":
        return "must be an https URL"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is not None and not address.is_global:
        return "must not point into a private network"
    if port not in (None, 443):
        return "must use the push service's standard port"
    for pattern in settings.push_services:
        pattern = pattern.lower()
        if "://" in pattern:
            continue
        if (pattern.startswith("*.") and host.endswith(pattern[1:])) or host == pattern:
            return None
    return "not a known push service (LIVEFEED_PUSH_SERVICES)"


def parse_subscription(body: Any, settings: Settings) -> Subscription:
    """``{"subscription": PushSubscription.toJSON(), "section": "news"?}`` → a Subscription.

    The ``PushSubscription`` JSON may also be the body itself. Raises SubscriptionError
    naming every bad field.
    """
    if not isinstance(body, dict):
        raise SubscriptionError([{"field": "body", "reason": "must be a JSON object"}])
    sub = body.get("subscription", body)
    errors: list[dict[str, str]] = []
    if not isinstance(sub, dict):
        raise SubscriptionError([{"field": "subscription", "reason": "must be an object"}])
    endpoint = sub.get("endpoint")
    if not isinstance(endpoint, str):
        errors.append({"field": "subscription.endpoint", "reason": "required, a URL"})
    else:
        problem = endpoint_problem(endpoint, settings)
        if problem:
            errors.append({"field": "subscription.endpoint", "reason": problem})
    key_doc = sub.get("keys")
    p256dh: Any = ""
    auth: Any = ""
    if not isinstance(key_doc, dict):
        errors.append({"field": "subscription.keys", "reason": "required: {p256dh, auth}"})
    else:
        p256dh, auth = key_doc.get("p256dh"), key_doc.get("auth")
        if not isinstance(p256dh, str) or not _valid_point(p256dh):
            errors.append(
                {
                    "field": "subscription.keys.p256dh",
                    "reason": "must be a P-256 public key (65-byte uncompressed point, base64url)",
                }
            )
        if not isinstance(auth, str) or not _valid_auth(auth):
            errors.append(
                {"field": "subscription.keys.auth", "reason": "must be 16 bytes, base64url"}
            )
    section = body.get("section") if "subscription" in body else None
    name = BREAKING
    if section not in (None, ""):
        if not isinstance(section, str) or not is_slug(section):
            errors.append({"field": "section", "reason": f"must be {SLUG_RULE}"})
        else:
            name = section_filter_name(section)
    if errors:
        raise SubscriptionError(errors)
    assert isinstance(endpoint, str)
    assert isinstance(p256dh, str)
    assert isinstance(auth, str)
    return Subscription(endpoint, p256dh, auth, name)


def _valid_point(text: str) -> bool:
    try:
        load_public(text)
    except ValueError:
        return False
    return True


def _valid_auth(text: str) -> bool:
    try:
        return len(b64url_decode(text)) == AUTH_SECRET_BYTES
    except ValueError:
        return False


async def save(client: aredis.Redis, sub: Subscription) -> None:
    """Store (or re-store, with a new filter or keys) one subscription."""
    key = keys.alert_subscription(sub.sid)
    old = await client.hget(key, "filter")
    async with client.pipeline(transaction=True) as pipe:
        if isinstance(old, bytes) and old.decode() != sub.filter:
            pipe.srem(keys.alert_filter(old.decode()), sub.sid)
        pipe.hset(
            key,
            mapping={
                "endpoint": sub.endpoint,
                "p256dh": sub.p256dh,
                "auth": sub.auth,
                "filter": sub.filter,
                "created": str(int(time.time() * 1000)),
            },
        )
        pipe.sadd(keys.alert_filter(sub.filter), sub.sid)
        await pipe.execute()


async def delete(client: aredis.Redis, sid: str) -> bool:
    """Forget one subscription; whether it existed."""
    key = keys.alert_subscription(sid)
    name = await client.hget(key, "filter")
    async with client.pipeline(transaction=True) as pipe:
        if isinstance(name, bytes):
            pipe.srem(keys.alert_filter(name.decode()), sid)
        pipe.delete(key)
        results = await pipe.execute()
    return bool(results[-1])


async def load(client: aredis.Redis, sids: list[str]) -> dict[str, Subscription]:
    """The stored subscriptions among ``sids`` (gone ones are left out)."""
    found: dict[str, Subscription] = {}
    async with client.pipeline(transaction=False) as pipe:
        for sid in sids:
            pipe.hgetall(keys.alert_subscription(sid))
        rows = await pipe.execute()
    for sid, fields in zip(sids, rows, strict=True):
        sub = Subscription.from_hash(fields or {})
        if sub is not None:
            found[sid] = sub
    return found
