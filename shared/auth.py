"""Bearer tokens for newsroom tools: 401 without one, 403 with a wrong one.

Each token has a name (what the article history records) and may be limited to sections
(``shared.tokens``). Tokens come from ``LIVEFEED_INGEST_TOKENS`` and ``LIVEFEED_TOKENS_FILE``;
the file is re-read when it changes (checked at most every ``RECHECK_S`` on a request), with no
restart: a request already authenticated carries on with the identity it was given, the next
one sees the new list. A file that no longer parses is logged (with the line number) and the
previous list kept.

Failed checks are throttled per client address (``FailedAuthThrottle``, counted in Redis so every
process of every service shares the count): past ``LIVEFEED_AUTH_FAILURES_PER_MINUTE`` failures
in a minute, the address gets 429 with ``Retry-After`` until the minute ends, whatever token it
sends. ``BearerAuth`` puts the two together for ingest and the feed's history; the desk's login
uses the throttle the same way (``failed`` after a wrong credential, ``admit`` after a right one).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import redis
import redis.asyncio as aredis
from starlette.requests import Request

from shared import keys
from shared.addresses import address_group
from shared.settings import Settings
from shared.starlette_glue import ProblemError
from shared.tokens import NamedToken, from_env, from_file, unique

log = logging.getLogger(__name__)

RECHECK_S = 0.5  # how stale the view of the tokens file may be


def bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (spaces trimmed); None without one."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    token = credential.strip()
    return token if scheme.lower() == "bearer" and token else None


class TokenCheck:
    """Checks ``Authorization: Bearer <token>`` against the configured tokens in constant time,
    and answers who sent it."""

    def __init__(self, settings: Settings) -> None:
        self._env = from_env(settings.ingest_tokens)
        self._path: Path | None = settings.tokens_file
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._tokens: list[tuple[bytes, NamedToken]] = []
        # ``name:token`` as written in LIVEFEED_INGEST_TOKENS: a tool sending the whole entry
        # (its author took it for a bare token holding ':') is told so when refused.
        self._entries = [entry.encode() for entry in settings.ingest_tokens if ":" in entry]
        self._load(initial=True)
        if not self._tokens:
            raise ValueError(
                "LIVEFEED_INGEST_TOKENS and LIVEFEED_TOKENS_FILE name no token: "
                "ingest would accept no one"
            )

    def _file_stamp(self) -> tuple[int, int, int] | None:
        assert self._path is not None
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _load(self, initial: bool = False) -> None:
        named = list(self._env)
        if self._path is not None:
            stamp = self._file_stamp()
            if stamp == self._stamp and not initial:
                return
            try:
                text = self._path.read_text(encoding="utf-8")
                named = unique([*named, *from_file(text, str(self._path))])
            except (OSError, ValueError) as exc:
                if initial:
                    raise
                log.error("tokens file not reloaded, the previous tokens stay: %s", exc)
                self._stamp = stamp
                return
            if not initial:
                log.info("tokens file reloaded: %d token(s)", len(named))
            self._stamp = stamp
        # One assignment: a request being checked sees the old list or the new, never a mix.
        self._tokens = [(n.token.encode(), n) for n in named]

    def _fresh(self) -> None:
        if self._path is None:
            return
        now = time.monotonic()
        if now - self._checked >= RECHECK_S:
            self._checked = now
            self._load()

    def __call__(self, request: Request) -> NamedToken:
        """Who sent the request; raises a 401/403 problem unless its token is valid."""
        sent = bearer_token(request)
        if sent is None:
            raise ProblemError(
                401,
                "send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="livefeed"'},
            )
        found = self.find(sent)
        given = sent.encode()
        if found is None:
            whole = False
            for entry in self._entries:
                whole |= hmac.compare_digest(given, entry)
            raise ProblemError(
                403,
                "this is a whole 'name:token' entry of LIVEFEED_INGEST_TOKENS: send the part "
                "after its first ':' (a token that holds ':' is listed with a name, 'cms:ab:cd…')"
                if whole
                else "this token is not allowed to post",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return found

    def find(self, sent: str) -> NamedToken | None:
        """The configured token ``sent`` is, or None (the desk's sign-in asks this too)."""
        self._fresh()
        given = sent.encode()
        # Compare against every token so timing tells nothing about which one nearly matched.
        found: NamedToken | None = None
        for token, named in self._tokens:
            if hmac.compare_digest(given, token):
                found = named
        return found

    def named(self, name: str, digest: str, digest_of: Callable[[str], str]) -> NamedToken | None:
        """The configured token named ``name`` whose ``digest_of`` is ``digest``, or None: a
        desk session's token, still there (``services/ingest/sessions.py``)."""
        self._fresh()
        found: NamedToken | None = None
        for _, named in self._tokens:
            mine = digest_of(named.token).encode()
            if named.name == name and hmac.compare_digest(mine, digest.encode()):
                found = named
        return found


WINDOW_S = 60
# Addresses with a failed check this minute that one process remembers; past this, the older
# minutes' are dropped, then all (an address forgotten costs one unchecked request at most).
REMEMBERED_ADDRESSES = 10_000


class FailedAuthThrottle:
    """Failed credential checks per client address, in fixed one-minute windows in Redis.

    The address is the request's client as uvicorn gives it (``X-Forwarded-For`` only from the
    proxies ``FORWARDED_ALLOW_IPS`` trusts), counted by ``shared.addresses.address_group`` (an
    IPv6 client by its /64): the rule every per-address limit uses.

    ``failed`` counts a wrong credential (one round trip) and answers 429 once the address has
    used up ``limit`` failures this minute. ``admit`` runs after a right one: an address that
    has used them up is refused too (429, ``Retry-After``: the rest of the minute), or a guess
    that hits would still get in and the throttle would only change the status of the misses.
    ``admit`` asks Redis only when this process has itself seen a failure from the address
    this minute, so the traffic of well-behaved clients costs nothing; the price is that a
    guesser spread over N processes may get one unchecked guess per process per minute past
    the limit. A newsroom behind one address whose tool keeps sending a stale token is locked
    out with it for the rest of each minute: the log names the address once a minute, and the
    limit is a setting. Redis unreachable: nothing is counted and the request goes on (the
    endpoint meets the outage itself).
    """

    def __init__(self, client: Callable[[], aredis.Redis], limit: int) -> None:
        self.client = client
        self.limit = limit
        self._failed_in: dict[str, int] = {}  # address group -> the last minute it failed here

    def _where(self, request: Request) -> tuple[str, str, int]:
        group = address_group(request.client.host if request.client else "unknown")
        digest = hashlib.sha256(group.encode()).hexdigest()[:24]
        window = int(time.time() // WINDOW_S)
        return group, keys.auth_failures(digest, window), window

    def _refuse(self, window: int) -> ProblemError:
        retry_after = max(1, int((window + 1) * WINDOW_S - time.time()) + 1)
        return ProblemError(
            429,
            f"too many failed token checks from this address; retry in {retry_after}s",
            errors=[{"field": "authorization", "reason": "too many failed attempts"}],
            headers={"Retry-After": str(retry_after)},
        )

    def _remember(self, group: str, window: int) -> None:
        if group not in self._failed_in and len(self._failed_in) >= REMEMBERED_ADDRESSES:
            self._failed_in = {g: w for g, w in self._failed_in.items() if w == window}
            if len(self._failed_in) >= REMEMBERED_ADDRESSES:
                self._failed_in.clear()
        self._failed_in[group] = window

    async def failed(self, request: Request) -> None:
        """Count one failed check; raise a 429 problem once the address is past its limit.
        The failure that uses the limit up is logged (once a minute per address)."""
        if self.limit <= 0:
            return
        group, key, window = self._where(request)
        self._remember(group, window)
        try:
            async with self.client().pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 2 * WINDOW_S)
                count, _ = await pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError):
            return
        if int(count) == self.limit:
            log.warning(
                "%d failed token checks from %s this minute: it gets 429 until the minute ends",
                self.limit,
                group,
                extra={"peer": group},
            )
        if int(count) > self.limit:
            raise self._refuse(window)

    async def admit(self, request: Request) -> None:
        """After a right credential: raise a 429 problem if the address has used up its
        failures this minute (asked of Redis only if this process saw one of them)."""
        if self.limit <= 0:
            return
        group, key, window = self._where(request)
        if self._failed_in.get(group) != window:
            return
        try:
            count = await self.client().get(key)
        except (redis.ConnectionError, redis.TimeoutError):
            return
        if count is not None and int(count) >= self.limit:
            raise self._refuse(window)


class BearerAuth:
    """The bearer check with the failed-auth throttle: who sent the request, or a problem
    (401 without a token, 403 with a wrong one, 429 while the address is throttled)."""

    def __init__(self, tokens: TokenCheck, throttle: FailedAuthThrottle) -> None:
        self.tokens = tokens
        self.throttle = throttle

    async def __call__(self, request: Request) -> NamedToken:
        if bearer_token(request) is None:
            return self.tokens(request)  # 401: nothing was guessed
        try:
            who = self.tokens(request)
        except ProblemError as exc:
            if exc.status == 403:
                await self.throttle.failed(request)  # 429 past the limit
            raise
        await self.throttle.admit(request)
        return who
