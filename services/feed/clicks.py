"""``POST /v1/clicks``: a reader opened a headline (the column's beacon, ``static/clicks.js``).

The body is ``{"id": "<article id>"}``, sent as ``text/plain`` by ``navigator.sendBeacon`` (no
preflight) or as ``application/json``, at most ``MAX_BODY_BYTES``. The answer is 204 whether
the open was counted or not (a beacon reads no answer); a malformed body is a 400 naming
``id`` (or ``body``), too large a 413, another content type a 415, so API users learn.

Counted, in Redis (``shared.clicks``: per article per minute, 48 h), only when

- the article is live now (unknown, draft, embargoed, retracted, expired: nothing written);
- the request comes from a page of this site or of ``LIVEFEED_EMBED_ORIGINS`` (its ``Origin``,
  by ``shared.origins``' one rule; ``null`` or another site's: not counted). A browser always
  names the page's origin on a beacon; a request without one is not a browser's, and could
  name any origin it liked, so it is left to the robot and per-address rules below;
- the reader has not opted out: ``Sec-GPC: 1`` or ``DNT: 1`` (the column sends nothing then;
  this is for other clients);
- its user agent is not a robot's (``BOT_AGENTS``; none at all counts as one);
- its address (IPv6: its /64) has sent at most ``LIVEFEED_CLICKS_PER_MINUTE`` beacons this
  minute to this process (``AddressLimit``: kept in this process's memory for the current
  minute only, never written anywhere).

Nothing about the reader is stored or logged: no address, user agent, cookie or referrer.
The access log line (``shared.starlette_glue``) has the method, path, status and timing only.
The counters by outcome are the metric ``livefeed_clicks_total{outcome}``. The read path is
untouched: no event, no view dropped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from importlib import resources

import redis.asyncio as aredis
from prometheus_client import Counter
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.feed.params import store_down
from shared import clicks, keys
from shared.addresses import address_group
from shared.bodies import media_type, parse_json, read_body
from shared.models import ID_RULE, is_article_id
from shared.origins import origin_allowed, origin_of
from shared.settings import Settings
from shared.starlette_glue import ProblemError
from shared.window import window_floor_ms

MAX_BODY_BYTES = 1024
MEDIA_TYPES = ("text/plain", "application/json")
# Robots by user agent: the well-known words in crawlers', link previewers', monitors' and
# scripted clients' agents (matched anywhere, any case). A reader's browser has none of them.
BOT_AGENTS = re.compile(
    r"bot|crawl|spider|slurp|headless|lighthouse|preview|externalhit|archiver|monitor|"
    r"curl|wget|python|httpx|aiohttp|okhttp|go-http|java/|libwww|scrapy|phantomjs|selenium|"
    r"puppeteer|playwright",
    re.IGNORECASE,
)
# Addresses one process remembers within a minute; past it, new ones are not counted until the
# minute ends (a flood from that many addresses is not readers).
REMEMBERED_ADDRESSES = 100_000

CLICK_LUA = resources.files("services.feed.lua").joinpath("click.lua").read_text(encoding="utf-8")
CLICKS = Counter(
    "livefeed_clicks",
    "Headline-open beacons, by outcome: counted, not_live (unknown, retracted, expired, "
    "embargoed), opted_out (Sec-GPC/DNT), origin (not this site or an embed), bot, limited "
    "(LIVEFEED_CLICKS_PER_MINUTE).",
    ["outcome"],
)


class AddressLimit:
    """At most ``limit`` beacons per client address (IPv6: /64) per clock minute, in this
    process's memory (0: no limit). The table is dropped when the minute changes, so no
    address is held longer than a minute; nothing goes to Redis or the logs."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.minute = -1
        self.counts: dict[str, int] = {}

    def allow(self, address: str, now: float | None = None) -> bool:
        """Count one beacon from ``address``; False once it is past the limit this minute."""
        if self.limit <= 0:
            return True
        minute = clicks.current_minute(now)
        if minute != self.minute:
            self.minute, self.counts = minute, {}
        group = address_group(address)
        count = self.counts.get(group, 0)
        if count == 0 and len(self.counts) >= REMEMBERED_ADDRESSES:
            return False
        if count >= self.limit:
            return False
        self.counts[group] = count + 1
        return True


def is_bot(user_agent: str | None) -> bool:
    """Whether a ``User-Agent`` is a robot's (or missing): ``BOT_AGENTS``."""
    return not user_agent or BOT_AGENTS.search(user_agent) is not None


class Clicks:
    """The beacon's handler; ``client`` gives the feed app's Redis client."""

    def __init__(self, settings: Settings, client: Callable[[], aredis.Redis]) -> None:
        self.settings = settings
        self.client = client
        own = {origin} if (origin := origin_of(settings.feed_url)) else set()
        self.origins = frozenset(settings.origins | own | settings.embeds)
        self.limit = AddressLimit(settings.clicks_per_minute)
        self._script: AsyncScript | None = None

    def routes(self) -> list[BaseRoute]:
        """``POST /v1/clicks``."""
        return [Route("/v1/clicks", self.beacon, methods=["POST"])]

    async def beacon(self, request: Request) -> Response:
        """204, counted or not; 400/413/415 for a body that is not ``{"id": "..."}``."""
        if not self.settings.count_clicks:
            raise ProblemError(404, "headline opens are not counted on this site")
        if media_type(request) not in MEDIA_TYPES:
            raise ProblemError(
                415,
                'send {"id": "<article id>"} as text/plain or application/json',
                errors=[{"field": "Content-Type", "reason": "text/plain or application/json"}],
            )
        body = parse_json(await read_body(request, MAX_BODY_BYTES))
        article_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(article_id, str) or not is_article_id(article_id):
            raise ProblemError(
                400,
                'send {"id": "<article id>"}',
                errors=[{"field": "id", "reason": ID_RULE}],
            )
        outcome = self.refusal(request) or await self.count(article_id)
        CLICKS.labels(outcome).inc()
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    def refusal(self, request: Request) -> str | None:
        """Why this beacon is not counted (None: it may be)."""
        headers = request.headers
        if headers.get("sec-gpc", "").strip() == "1" or headers.get("dnt", "").strip() == "1":
            return "opted_out"
        origin = headers.get("origin")
        if origin is not None and not origin_allowed(origin, self.origins):
            return "origin"
        if is_bot(headers.get("user-agent")):
            return "bot"
        if not self.limit.allow(request.client.host if request.client else "unknown"):
            return "limited"
        return None

    async def count(self, article_id: str) -> str:
        """Add the open if the article is live: ``counted`` or ``not_live``."""
        now = time.time()
        minute = clicks.current_minute(now)
        floor = window_floor_ms(self.settings)
        if self._script is None:
            self._script = self.client().register_script(CLICK_LUA)
        try:
            counted = await self._script(
                keys=[
                    keys.article(article_id),
                    keys.clicks_article(article_id),
                    keys.clicks_minute(minute),
                ],
                args=[
                    article_id,
                    minute,
                    "" if floor is None else floor,
                    clicks.RETENTION_S + clicks.MINUTE_S,
                    clicks.oldest_kept(minute),
                    (minute + 1) * clicks.MINUTE_S + clicks.RETENTION_S,
                ],
            )
        except RedisError as exc:
            raise store_down() from exc
        return "counted" if counted else "not_live"
