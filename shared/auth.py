"""Bearer tokens for newsroom tools: 401 without one, 403 with a wrong one.

Each token has a name (what the article history records) and may be limited to sections
(``shared.tokens``). Tokens come from ``LIVEFEED_INGEST_TOKENS`` and ``LIVEFEED_TOKENS_FILE``;
the file is re-read when it changes (checked at most every ``RECHECK_S`` on a request), with no
restart: a request already authenticated carries on with the identity it was given, the next
one sees the new list. A file that no longer parses is logged and the previous list kept.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from pathlib import Path

from starlette.requests import Request

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
        self._fresh()
        given = sent.encode()
        # Compare against every token so timing tells nothing about which one nearly matched.
        found: NamedToken | None = None
        for token, named in self._tokens:
            if hmac.compare_digest(given, token):
                found = named
        if found is None:
            raise ProblemError(
                403,
                "this token is not allowed to post",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return found
