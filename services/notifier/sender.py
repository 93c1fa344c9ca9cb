"""Sending one push message: RFC 8291 encryption and the request (pywebpush), VAPID (py-vapid).

- One ``aiohttp`` session per push-service origin: connections to it are kept and reused
  (FCM, Mozilla's autopush… each get their own pool); at most ``LIVEFEED_NOTIFIER_CONCURRENCY``
  requests are in flight across all of them.
- The VAPID JWT (RFC 8292) is signed once per push-service origin and reused until an hour
  before it expires (12 h): signing per message would cost an ECDSA signature each.
- Headers: ``TTL``, ``Urgency`` (``high`` for breaking news), ``Topic`` (the article, so that a
  newer message for it replaces one the push service has not delivered yet).
- Outcome: 2xx sent; 404/410 gone (the caller deletes the subscription); 429, 5xx and no
  answer are retried with backoff (``Retry-After`` honoured, up to a minute); anything else
  (400, 403, 413…) failed; ``Result.permanent`` says which failures count against the
  subscription (the notifier drops it after ``LIVEFEED_PUSH_DROP_AFTER_FAILURES`` in a row).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from py_vapid import Vapid02
from pywebpush import WebPusher, WebPushException

from services.notifier import metrics
from shared.alerts import Subscription
from shared.settings import Settings

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 2.0, 8.0)  # then give up (full jitter below each)
MAX_RETRY_AFTER_S = 60.0
REQUEST_TIMEOUT_S = 10.0
JWT_LIFETIME_S = 12 * 3600
JWT_RENEW_S = 3600
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

Verdict = Literal["sent", "gone", "failed"]


@dataclass(frozen=True)
class Result:
    """What became of one message: its verdict and the push service's last status."""

    verdict: Verdict
    status: int | None
    attempts: int

    @property
    def permanent(self) -> bool:
        """A failure that says the subscription is broken rather than the moment bad.

        A 4xx other than 404/410 (``gone``: deleted at once), 408 and 429 (try later), or no
        answer after every retry (no such host, nothing listening). 5xx are the push
        service's trouble. The notifier holds these against a subscription only when its push
        service took the same message for another one (our keys and network work).
        """
        if self.verdict != "failed":
            return False
        if self.status is None:
            return True
        return 400 <= self.status < 500 and self.status not in (404, 408, 410, 429)


def topic_for(article_id: str) -> str:
    """RFC 8030 ``Topic``: at most 32 characters of the URL-safe base64 alphabet.

    The article id itself when it fits (``a-1``), else 32 characters of the base64url SHA-256
    of it (ids may hold ``.``, ``:`` and ``/`` and run to 200 characters).
    """
    if _TOPIC.match(article_id):
        return article_id
    digest = base64.urlsafe_b64encode(hashlib.sha256(article_id.encode()).digest())
    return digest.decode().rstrip("=")[:32]


def origin_of(endpoint: str) -> str:
    """``https://fcm.googleapis.com`` of an endpoint: one session and one JWT audience each."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


class Sender:
    """Sends encrypted messages; holds the sessions, the signed tokens and the in-flight cap."""

    def __init__(self, settings: Settings) -> None:
        if not settings.alerts_enabled:
            raise RuntimeError("alerts need LIVEFEED_VAPID_PRIVATE_KEY, _PUBLIC_KEY and _SUBJECT")
        self.vapid = Vapid02.from_raw((settings.vapid_private_key or "").encode())
        self.subject = settings.vapid_subject or ""
        self.ttl = settings.push_alert_ttl
        self.concurrency = settings.notifier_concurrency
        self.slots = asyncio.Semaphore(settings.notifier_concurrency)
        self.sessions: dict[str, aiohttp.ClientSession] = {}
        self.tokens: dict[str, tuple[float, dict[str, str]]] = {}

    def session(self, origin: str) -> aiohttp.ClientSession:
        """The session (and connection pool) of one push service."""
        session = self.sessions.get(origin)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.concurrency, limit_per_host=self.concurrency, ttl_dns_cache=300
            )
            session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
            )
            self.sessions[origin] = session
        return session

    def vapid_headers(self, origin: str) -> dict[str, str]:
        """``Authorization: vapid t=<JWT>, k=<public key>`` for one push service."""
        now = time.time()
        cached = self.tokens.get(origin)
        if cached is not None and cached[0] - now > JWT_RENEW_S:
            return cached[1]
        expires = int(now) + JWT_LIFETIME_S
        headers: dict[str, str] = self.vapid.sign(
            {"aud": origin, "exp": expires, "sub": self.subject}
        )
        self.tokens[origin] = (expires, headers)
        return headers

    async def send(
        self, sub: Subscription, data: bytes, *, urgency: str, topic: str, ttl: int | None = None
    ) -> Result:
        """Encrypt ``data`` for ``sub`` and deliver it to its push service, retrying."""
        origin = origin_of(sub.endpoint)
        status: int | None = None
        for attempt in range(len(RETRY_DELAYS_S) + 1):
            retry_after: str | None = None
            headers = {**self.vapid_headers(origin), "Urgency": urgency, "Topic": topic}
            async with self.slots:
                try:
                    pusher = WebPusher(sub.info, aiohttp_session=self.session(origin))
                    response = await pusher.send_async(
                        data,
                        headers,
                        ttl=self.ttl if ttl is None else ttl,
                        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
                    )
                    assert isinstance(response, aiohttp.ClientResponse)
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status = None
                    log.info("push service %s unreachable: %s", origin, exc)
                except WebPushException as exc:  # a stored subscription pywebpush cannot use
                    log.warning("cannot encrypt for %s: %s", origin, exc)
                    return Result("failed", None, attempt + 1)
            if status is not None and 200 <= status < 300:
                return Result("sent", status, attempt + 1)
            if status in (404, 410):
                return Result("gone", status, attempt + 1)
            retryable = status is None or status == 429 or status >= 500
            if not retryable or attempt == len(RETRY_DELAYS_S):
                return Result("failed", status, attempt + 1)
            metrics.RETRIES.inc()
            await asyncio.sleep(_delay(RETRY_DELAYS_S[attempt], retry_after))
        return Result("failed", status, len(RETRY_DELAYS_S) + 1)

    async def close(self) -> None:
        """Close every session (their connections)."""
        for session in self.sessions.values():
            await session.close()
        self.sessions.clear()


def _delay(base: float, retry_after: str | None) -> float:
    """Full jitter under ``base``, or the push service's ``Retry-After`` (capped at a minute)."""
    if retry_after:
        try:
            seconds = float(retry_after)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(retry_after).timestamp() - time.time()
            except (TypeError, ValueError):
                seconds = base
        return max(0.0, min(seconds, MAX_RETRY_AFTER_S))
    return random.uniform(base / 2, base)  # noqa: S311 - jitter, not a secret
