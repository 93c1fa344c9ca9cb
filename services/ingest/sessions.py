"""Desk sessions: a signed cookie naming a sign-in kept in Redis, and the checks every
state-changing request made with one passes.

Signing in (``services/ingest/desk.py``) with a named token makes a session: a random id, its
record in Redis (``keys.desk_session``: the token's name, an HMAC of the token, a CSRF token,
when it expires) and the cookie ``livefeed_session`` = ``<id>.<HMAC-SHA256 of the id with
LIVEFEED_SESSION_SECRET>`` (HttpOnly, SameSite=Strict, Path=/, Secure when the request came
over HTTPS, X-Forwarded-Proto included from the proxies uvicorn trusts, or the desk's public
URL is https; Max-Age LIVEFEED_SESSION_HOURS). Redis is keyed by a digest of the id, so what
Redis holds cannot be replayed as a cookie. Signing out deletes the record: the cookie is
dead everywhere at once. A cookie whose signature fails (an old secret, or forged) is simply
signed out: it is not counted as a guessed token.

A session authenticates as the token it signed in with, looked up afresh on every request: a
token removed from (or replaced in) the tokens file ends its sessions, and a role changed there
applies at the next request.

A request with a session and an unsafe method (anything but GET, HEAD, OPTIONS) must also
carry an ``Origin`` naming this site (the origin the request was made to, or one of the
desk's configured origins: ``Settings.desk_origins``) and the session's CSRF token in
``X-CSRF-Token`` (or, for the desk's plain forms, the form field ``csrf``); else 403 naming
``Origin`` or ``X-CSRF-Token``. A bearer token is checked as before (``shared.auth``): tools
never use the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis
import redis.asyncio as aredis
from starlette.requests import Request
from starlette.responses import Response

from shared import keys
from shared.auth import BearerAuth, TokenCheck, bearer_token
from shared.origins import normalize_origin, origin_allowed
from shared.settings import Settings
from shared.starlette_glue import ProblemError
from shared.tokens import NamedToken

log = logging.getLogger(__name__)

COOKIE = "livefeed_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"  # the hidden field of the desk's own forms (sign-out)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ID_BYTES = 32
_MAX_COOKIE_CHARS = 200


def role_of(who: NamedToken) -> str:
    """``editor`` or ``contributor``: the token's role (``NamedToken.role``)."""
    return who.role


def client_address(request: Request) -> str:
    """The client's address as uvicorn gives it (``X-Forwarded-For`` only from trusted
    proxies): what the sign-in log lines name."""
    return request.client.host if request.client else "unknown"


def request_origin(request: Request) -> str | None:
    """The origin this request was made to: its scheme (``X-Forwarded-Proto`` from a trusted
    proxy) and its ``Host``."""
    host = request.headers.get("host", "")
    return normalize_origin(f"{request.url.scheme}://{host}") if host else None


@dataclass(frozen=True)
class Session:
    """One signed-in desk: who, its CSRF token, when it ends."""

    digest: str  # of the session id: its Redis key
    who: NamedToken
    csrf: str
    expires_ms: int


class Sessions:
    """Starts, finds and ends desk sessions, and guards the requests made with one."""

    def __init__(
        self,
        settings: Settings,
        client: Callable[[], aredis.Redis],
        tokens: TokenCheck,
        secret: str,
    ) -> None:
        self.settings = settings
        self.client = client
        self.tokens = tokens
        self._key = hashlib.sha256(b"livefeed-desk-session\0" + secret.encode()).digest()
        self.lifetime_s = settings.session_hours * 3600

    def _sign(self, session_id: str) -> str:
        mac = hmac.new(self._key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def _session_id(self, cookie: str | None) -> str | None:
        """The session id of a cookie whose signature holds; None otherwise."""
        if not cookie or len(cookie) > _MAX_COOKIE_CHARS:
            return None
        session_id, dot, signature = cookie.partition(".")
        if not dot or not session_id:
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(session_id).encode()):
            return None
        return session_id

    def token_mac(self, token: str) -> str:
        """What a session record keeps of its token: an HMAC-SHA256 with the session key
        (a leaked record names no token, and cannot be checked against guesses offline)."""
        return hmac.new(self._key, b"token\0" + token.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _digest(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()

    async def start(self, who: NamedToken) -> tuple[str, Session]:
        """A new session for ``who``: the cookie's value and the session (raises
        ``redis.RedisError`` when Redis is down)."""
        session_id = secrets.token_urlsafe(_ID_BYTES)
        expires_ms = int((time.time() + self.lifetime_s) * 1000)
        session = Session(self._digest(session_id), who, secrets.token_urlsafe(24), expires_ms)
        record = {
            "name": who.name,
            "token": self.token_mac(who.token),
            "csrf": session.csrf,
            "created": int(time.time() * 1000),
            "expires": expires_ms,
        }
        await self.client().set(
            keys.desk_session(session.digest), orjson.dumps(record), ex=self.lifetime_s
        )
        return f"{session_id}.{self._sign(session_id)}", session

    async def end(self, session: Session) -> None:
        """Sign out: the session's record goes, so its cookie is refused from now on."""
        await self.client().delete(keys.desk_session(session.digest))

    def signed(self, request: Request) -> bool:
        """Whether the request's cookie carries a valid signature (a session or a dead one)."""
        return self._session_id(request.cookies.get(COOKIE)) is not None

    async def current(self, request: Request) -> Session | None:
        """The request's live session (its cookie signed, its record kept, its token still
        configured under the same name), or None."""
        session_id = self._session_id(request.cookies.get(COOKIE))
        if session_id is None:
            return None
        digest = self._digest(session_id)
        raw = await self.client().get(keys.desk_session(digest))
        if raw is None:
            return None
        record: dict[str, Any] = orjson.loads(raw)
        who = self.tokens.named(
            str(record.get("name", "")), str(record.get("token", "")), self.token_mac
        )
        if who is None:
            return None
        return Session(digest, who, str(record["csrf"]), int(record["expires"]))

    def same_origin(self, request: Request) -> bool:
        """Whether the request's ``Origin`` names this site."""
        own = request_origin(request)
        allowed = self.settings.desk_origins | ({own} if own else set())
        return origin_allowed(request.headers.get("origin"), frozenset(allowed))

    def guard(self, request: Request, session: Session, form_csrf: str | None = None) -> None:
        """For an unsafe request made with ``session``: 403 unless its ``Origin`` is this site
        and it carries the session's CSRF token (header, or ``form_csrf`` from a desk form)."""
        if not self.same_origin(request):
            raise ProblemError(
                403,
                "a desk request must come from the desk's own page",
                errors=[{"field": "Origin", "reason": "not this site's origin"}],
            )
        sent = request.headers.get(CSRF_HEADER.lower()) or form_csrf or ""
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise ProblemError(
                403,
                f"send the session's CSRF token in {CSRF_HEADER}",
                errors=[{"field": CSRF_HEADER, "reason": "missing or wrong"}],
            )

    def secure(self, request: Request) -> bool:
        """Whether the cookie is ``Secure``: the request came over HTTPS, or the desk's public
        origin (``Settings.ingest_url``: LIVEFEED_PUBLIC_INGEST_URL, else the feed's public URL)
        is https. Behind TLS that ends before nginx, the proxy passes ``X-Forwarded-Proto:
        http``: the public origin still says the browser is on HTTPS."""
        public = self.settings.ingest_url.lower()
        return request.url.scheme == "https" or public.startswith("https://")

    def set_cookie(self, response: Response, request: Request, value: str) -> None:
        """``livefeed_session``: HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS."""
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.lifetime_s,
            path="/",
            secure=self.secure(request),
            httponly=True,
            samesite="strict",
        )

    def clear_cookie(self, response: Response, request: Request) -> None:
        """Tell the browser to drop the cookie (the record is gone already)."""
        response.delete_cookie(
            COOKIE,
            path="/",
            secure=self.secure(request),
            httponly=True,
            samesite="strict",
        )


class SessionOrBearer:
    """``Ingest.check_token``: a bearer token as before; else a desk session cookie, with
    ``Origin`` and ``X-CSRF-Token`` checked on unsafe methods. A request with neither gets the
    bearer check's 401."""

    def __init__(self, bearer: BearerAuth, sessions: Sessions) -> None:
        self.bearer = bearer
        self.sessions = sessions

    async def __call__(self, request: Request) -> NamedToken:
        if bearer_token(request) is not None or COOKIE not in request.cookies:
            return await self.bearer(request)
        if not self.sessions.signed(request):
            # Signed with another secret (a redeploy that made a new one) or forged: signed
            # out, not a guessed token (a newsroom behind one address must not be throttled
            # by its old cookies; a signature cannot be guessed anyway).
            raise _ended()
        try:
            session = await self.sessions.current(request)
        except redis.RedisError as exc:
            raise ProblemError(503, "Redis is unreachable: the session cannot be checked") from exc
        if session is None:
            raise _ended()
        if request.method not in SAFE_METHODS:
            self.sessions.guard(request, session)
        return session.who


def _ended() -> ProblemError:
    return ProblemError(
        401,
        "the desk session has ended: sign in again at /desk",
        errors=[{"field": COOKIE, "reason": "signed out, expired or not valid"}],
        headers={"WWW-Authenticate": 'Bearer realm="livefeed"'},
    )
