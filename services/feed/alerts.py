"""Breaking-news alerts on the feed service: the service worker, the alerts page, subscriptions.

- ``GET /sw.js``: the service worker (``static/sw.js``), served from the root so that its scope
  is the whole feed origin; never cached for long, so a new version reaches readers.
- ``GET /alerts``: a page with the "Alert me to breaking news" button, for readers of an
  embedded column (a service worker and a push subscription belong to the feed's origin, so
  the embed links here instead of asking on the host site's page).
- ``POST /v1/push-subscriptions``: store the browser's ``PushSubscription`` and its filter
  (``section`` for a section's news, else breaking news); ``DELETE`` with ``{"endpoint"}``
  forgets it. Only from the feed's own origin and ``LIVEFEED_EMBED_ORIGINS``, rate-limited per
  client address (``LIVEFEED_PUSH_SUBSCRIBE_RATE_LIMIT`` requests a minute), at most
  ``LIVEFEED_PUSH_SUBSCRIBE_PER_HOUR`` new subscriptions an hour per address (429) and
  ``LIVEFEED_PUSH_MAX_SUBSCRIPTIONS`` in all (503), every bad field named in a problem+json;
  nothing else about the reader is kept (the per-address counters hold a digest and expire).
  404 when alerts are not configured (no VAPID keys).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aredis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from services.feed.caching import respond, static_view
from services.feed.page import alert_button, security_headers
from services.feed.params import store_down
from shared import alerts, keys
from shared.addresses import address_digest
from shared.bodies import media_type, parse_json, read_body
from shared.origins import origin_allowed, origin_of
from shared.settings import Settings
from shared.starlette_glue import ProblemError

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 4096
FULL_RETRY_AFTER_S = 3600  # Retry-After when LIVEFEED_PUSH_MAX_SUBSCRIPTIONS are kept


class Alerts:
    """The handlers; ``client`` gives the feed app's Redis client (opened in its lifespan)."""

    def __init__(self, settings: Settings, client: Callable[[], aredis.Redis]) -> None:
        self.settings = settings
        self.client = client
        # Both made once, with their gzip copies (caching.static_view).
        self.worker = static_view(
            (STATIC / "sw.js").read_bytes(),
            "text/javascript; charset=utf-8",
            {
                "Service-Worker-Allowed": "/",
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
            },
        )
        self.alerts_page = static_view(
            render_alerts_page(settings),
            "text/html; charset=utf-8",
            {**security_headers(settings), "Cache-Control": "no-cache"},
        )
        own = {origin} if (origin := origin_of(settings.feed_url)) else set()
        self.origins = frozenset(settings.origins | own | settings.embeds)

    def routes(self) -> list[BaseRoute]:
        """``/sw.js``, ``/alerts``, ``/v1/push-subscriptions``."""
        return [
            Route("/sw.js", self.service_worker, methods=["GET", "HEAD"]),
            Route("/alerts", self.page, methods=["GET"]),
            Route("/v1/push-subscriptions", self.subscribe, methods=["POST"]),
            Route("/v1/push-subscriptions", self.unsubscribe, methods=["DELETE"]),
        ]

    async def service_worker(self, request: Request) -> Response:
        """The service worker, scoped to the whole origin."""
        return respond(request, self.worker)

    async def page(self, request: Request) -> Response:
        """A page holding only the button (and what it does), for readers of embeds."""
        if not self.settings.alerts_enabled:
            raise ProblemError(404, "alerts are not configured on this site")
        return respond(request, self.alerts_page)

    async def subscribe(self, request: Request) -> Response:
        """``POST /v1/push-subscriptions``: 201 ``{"id", "filter"}``."""
        body = await self._checked_body(request)
        try:
            sub = alerts.parse_subscription(body, self.settings)
        except alerts.SubscriptionError as exc:
            raise ProblemError(422, "invalid subscription", errors=exc.errors) from None
        try:
            outcome = await alerts.save(
                self.client(),
                sub,
                max_total=self.settings.push_max_subscriptions,
                address=address_digest(request),
                per_address=self.settings.push_subscribe_per_hour,
            )
        except RedisError as exc:
            raise store_down() from exc
        if outcome == "full":
            # The site's condition, not this reader's doing: 503 (a 429 would tell the reader
            # to slow down). It lasts until subscriptions are deleted or the cap is raised.
            raise ProblemError(
                503,
                "this site takes no new alert subscriptions at the moment; try again later",
                headers={"Retry-After": str(FULL_RETRY_AFTER_S)},
            )
        if outcome == "address":
            now = time.time()
            window = alerts.ADDRESS_WINDOW_S
            raise ProblemError(
                429,
                "too many new alert subscriptions from this address; try again later",
                headers={"Retry-After": str(max(1, window - int(now % window)))},
            )
        return JSONResponse({"id": sub.sid, "filter": sub.filter}, status_code=201)

    async def unsubscribe(self, request: Request) -> Response:
        """``DELETE /v1/push-subscriptions`` with ``{"endpoint"}``: 204, whether it was kept."""
        body = await self._checked_body(request)
        endpoint = body.get("endpoint") if isinstance(body, dict) else None
        if isinstance(body, dict) and isinstance(body.get("subscription"), dict):
            endpoint = body["subscription"].get("endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise ProblemError(
                422,
                "which subscription?",
                errors=[{"field": "endpoint", "reason": "required: the subscription's endpoint"}],
            )
        try:
            await alerts.delete(self.client(), alerts.subscription_id(endpoint))
        except RedisError as exc:
            raise store_down() from exc
        return Response(status_code=204)

    async def _checked_body(self, request: Request) -> Any:
        """Alerts on, the origin allowed, under the rate limit, a small JSON body."""
        if not self.settings.alerts_enabled:
            raise ProblemError(404, "alerts are not configured on this site")
        if not origin_allowed(request.headers.get("origin"), self.origins):
            raise ProblemError(
                403,
                "subscriptions are taken from this site's pages only",
                errors=[{"field": "Origin", "reason": "not an allowed origin"}],
            )
        await self._rate_limit(request)
        if media_type(request) != "application/json":
            raise ProblemError(
                415,
                "send application/json",
                errors=[{"field": "Content-Type", "reason": "must be application/json"}],
            )
        return parse_json(await read_body(request, MAX_BODY_BYTES))

    async def _rate_limit(self, request: Request) -> None:
        limit = self.settings.push_subscribe_rate_limit
        if not limit:
            return
        now = time.time()
        key = keys.alert_rate(address_digest(request), int(now // 60))
        try:
            async with self.client().pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 120)
                count, _ = await pipe.execute()
        except RedisError as exc:
            raise store_down() from exc
        if int(count) > limit:
            raise ProblemError(
                429,
                "too many subscription requests from this address; try again later",
                headers={"Retry-After": str(max(1, 60 - int(now % 60)))},
            )


def render_alerts_page(settings: Settings) -> bytes:
    """``/alerts``: the button, what readers get, and a link back to the live page."""
    html = ET.Element("html", {"lang": "en"})
    head = ET.SubElement(html, "head")
    ET.SubElement(head, "meta", {"charset": "utf-8"})
    ET.SubElement(
        head, "meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}
    )
    ET.SubElement(head, "title").text = "Breaking-news alerts — livefeed"
    ET.SubElement(head, "link", {"rel": "icon", "href": "data:,"})
    ET.SubElement(head, "link", {"rel": "stylesheet", "href": "/static/live.css"})
    ET.SubElement(head, "script", {"type": "module", "src": "/static/alerts.js"}).text = ""
    body = ET.SubElement(html, "body")
    main = ET.SubElement(body, "main", {"class": "wrap column alerts-page"})
    ET.SubElement(main, "h1", {"class": "column-title"}).text = "Breaking-news alerts"
    ET.SubElement(main, "p").text = (
        "Get a notification when breaking news is published, even with this site closed. "
        "Updates replace the notification; a withdrawn story removes it."
    )
    alert_button(main, settings)
    ET.SubElement(main, "p").append(_link("/", "Back to the live news"))
    document: bytes = ET.tostring(html, encoding="utf-8", method="html")
    return b"<!doctype html>\n" + document


def _link(href: str, text: str) -> ET.Element:
    node = ET.Element("a", {"href": href})
    node.text = text
    return node
