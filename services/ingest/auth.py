"""Bearer tokens for newsroom tools: 401 without one, 403 with a wrong one."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from shared.starlette_glue import ProblemError


def bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (spaces trimmed); None without one."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    token = credential.strip()
    return token if scheme.lower() == "bearer" and token else None


class TokenCheck:
    """Checks ``Authorization: Bearer <token>`` against the configured tokens in constant time."""

    def __init__(self, tokens: list[str]) -> None:
        if not tokens:
            raise ValueError("LIVEFEED_INGEST_TOKENS is empty: ingest would accept no one")
        self._tokens = [token.encode() for token in tokens]

    def __call__(self, request: Request) -> None:
        """Raise a 401/403 problem unless the request carries a valid token."""
        sent = bearer_token(request)
        if sent is None:
            raise ProblemError(
                401,
                "send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="livefeed"'},
            )
        given = sent.encode()
        # Compare against every token so timing tells nothing about which one nearly matched.
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(given, token)
        if not matched:
            raise ProblemError(
                403,
                "this token is not allowed to post",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
