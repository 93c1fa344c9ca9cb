"""Per-token rate limit for ingest, counted in Redis so it holds across every ingest copy.

A fixed one-minute window per token: one round trip (SET NX EX, INCR) per request.
The key carries a digest of the token, never the token. Over the limit: 429 with
``Retry-After`` (seconds until the window ends). Redis down: the request goes on and meets
the 503 of the queue itself, so the limiter never turns an outage into a different answer.
"""

from __future__ import annotations

import hashlib
import time

import redis
import redis.asyncio

from shared import keys
from shared.starlette_glue import ProblemError
from shared.tokens import NamedToken

WINDOW_S = 60


def token_digest(who: NamedToken) -> str:
    """A short digest of the request's token (checked already: a bearer token, or the one a
    desk session signed in with), so each token has its own minute."""
    return hashlib.sha256(who.token.encode()).hexdigest()[:20]


class RateLimit:
    """At most ``limit`` requests per token per minute (0: no limit)."""

    def __init__(self, client: redis.asyncio.Redis, limit: int) -> None:
        self.client = client
        self.limit = limit

    async def _count(self, key: str) -> int:
        # SET NX EX then INCR: the window's key expires with it (EXPIRE NX needs Redis 7).
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.set(key, 0, ex=WINDOW_S + 5, nx=True)
            pipe.incr(key)
            _, count = await pipe.execute()
        return int(count)

    async def check(self, who: NamedToken) -> None:
        """Raise a 429 problem when this token has used up its minute."""
        if self.limit <= 0:
            return
        now = time.time()
        window = int(now // WINDOW_S)
        try:
            count = await self._count(keys.rate(token_digest(who), window))
        except (redis.ConnectionError, redis.TimeoutError):
            return  # the queue answers 503 itself; a limiter must not hide that
        if count > self.limit:
            retry_after = max(1, int((window + 1) * WINDOW_S - now) + 1)
            raise ProblemError(
                429,
                f"this token may send {self.limit} requests a minute; retry in {retry_after}s",
                errors=[{"field": "authorization", "reason": "rate limit exceeded"}],
                headers={"Retry-After": str(retry_after)},
            )
