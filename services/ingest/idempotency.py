"""``Idempotency-Key``: a retried request gets the first answer again, and nothing is queued twice.

Keys are scoped to the bearer token (only a SHA-256 of the token is used, never the token) and
kept 24 hours under ``shared.keys.idempotency()``. A request claims its key with ``SET NX``
(a short-lived ``pending`` marker); its final answer replaces the marker. For a 202 the answer
is written in the same MULTI/EXEC as the job itself (see ``Enqueuer.enqueue``), so a stored
answer always means a queued job and the other way round.

- same key, same request, answered       -> the stored status and body (``Idempotent-Replayed``)
- same key, same request, still running  -> 409, retry shortly
- same key, different request            -> 422 naming ``Idempotency-Key``
- 5xx answers are not kept: the retry runs again

Answers are stored compressed, and one token's stored answers may weigh at most
``LIVEFEED_IDEMPOTENCY_BUDGET_BYTES`` per 24 hours: past that, answers are not kept (the
request still runs and is answered; a retry runs again, which the store's version check makes
harmless). So a token can make Redis hold a bounded amount, whatever its rate.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from dataclasses import dataclass

import orjson
import redis.asyncio
from starlette.responses import Response

from shared import keys
from shared.starlette_glue import ProblemError

HEADER = "Idempotency-Key"
TTL_S = 24 * 3600
# Long enough for any request, short enough that a crashed ingest does not block retries.
PENDING_TTL_S = 60
MAX_KEY_CHARS = 255
_COMPRESSED = b"z"  # stored answers start with it; pending markers are JSON ("{")

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _bad_key(reason: str) -> ProblemError:
    return ProblemError(400, f"{HEADER} {reason}", errors=[{"field": HEADER, "reason": reason}])


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def redis_key(token: str, key: str) -> str:
    """The Redis key holding the answer for one (token, Idempotency-Key) pair."""
    token_hash = _token_hash(token)
    digest = hashlib.sha256(f"{token_hash}\n{key}".encode()).hexdigest()
    return keys.idempotency(digest)


def fingerprint(method: str, path: str, content_type: str, body: bytes) -> str:
    """What makes two requests "the same request"."""
    head = f"{method}\n{path}\n{content_type}\n".encode()
    return hashlib.sha256(head + body).hexdigest()


def check_key(value: str) -> str:
    """The header value, or 400 when it is empty, too long or not printable ASCII."""
    if not value or len(value) > MAX_KEY_CHARS:
        raise _bad_key(f"must be 1-{MAX_KEY_CHARS} characters")
    if not all(" " < ch <= "~" for ch in value):
        raise _bad_key("must be printable ASCII without spaces")
    return value


@dataclass
class Claim:
    """A key this request holds while it runs."""

    key: str
    fingerprint: str
    marker: bytes
    budget_key: str
    recorded: bool = False

    def answer(self, response: Response) -> bytes:
        """The stored form of the final answer (status, media type, body), compressed."""
        document = orjson.dumps(
            {
                "state": "done",
                "fp": self.fingerprint,
                "status": response.status_code,
                "media_type": response.media_type,
                "body": bytes(response.body).decode(),
            }
        )
        return _COMPRESSED + zlib.compress(document, 1)


def _stored(raw: bytes) -> dict[str, object]:
    if raw.startswith(_COMPRESSED):
        raw = zlib.decompress(raw[len(_COMPRESSED) :])
    document: dict[str, object] = orjson.loads(raw)
    return document


class IdempotencyStore:
    """Claims, answers and replays; every call is one or two Redis commands."""

    def __init__(self, client: redis.asyncio.Redis, budget_bytes: int) -> None:
        self.client = client
        self.budget_bytes = budget_bytes
        self._release = client.register_script(_RELEASE)

    async def claim(self, token: str, key: str, request_fp: str) -> Claim | Response:
        """Claim the key, or answer at once: a replay, 409 (in flight) or 422 (other request)."""
        name = redis_key(token, check_key(key))
        marker = orjson.dumps({"state": "pending", "fp": request_fp, "nonce": secrets.token_hex(8)})
        for _ in range(3):  # the stored key may expire between SET NX and GET
            if await self.client.set(name, marker, nx=True, ex=PENDING_TTL_S):
                return Claim(name, request_fp, marker, keys.idempotency_bytes(_token_hash(token)))
            raw = await self.client.get(name)
            if raw is None:
                continue
            stored = _stored(raw if isinstance(raw, bytes) else raw.encode())
            if stored.get("fp") != request_fp:
                raise ProblemError(
                    422,
                    f"this {HEADER} was already used for a different request",
                    errors=[{"field": HEADER, "reason": "already used with another body"}],
                )
            if stored.get("state") != "done":
                raise ProblemError(
                    409,
                    f"a request with this {HEADER} is still being processed; retry shortly",
                    errors=[{"field": HEADER, "reason": "request in flight"}],
                    headers={"Retry-After": "1"},
                )
            return Response(
                str(stored["body"]),
                status_code=int(str(stored["status"])),
                media_type=str(stored.get("media_type") or "application/json"),
                headers={"Idempotent-Replayed": "true"},
            )
        raise ProblemError(
            409, f"{HEADER} is contended; retry shortly", headers={"Retry-After": "1"}
        )

    async def affordable(self, claim: Claim, answer: bytes) -> bool:
        """Count ``answer`` against its token's budget; False (and the claim let go) past it."""
        pipe = self.client.pipeline(transaction=True)
        pipe.set(claim.budget_key, 0, ex=TTL_S, nx=True)  # a day's budget starts (Redis 6.2)
        pipe.incrby(claim.budget_key, len(answer))
        _, spent = await pipe.execute()
        if int(spent) <= self.budget_bytes:
            return True
        await self.release(claim)
        claim.recorded = True  # nothing more to store for it
        return False

    async def record(self, claim: Claim, response: Response) -> None:
        """Keep the final answer for 24 hours (unless the enqueue already stored it)."""
        if not claim.recorded:
            answer = claim.answer(response)
            if await self.affordable(claim, answer):
                await self.client.set(claim.key, answer, ex=TTL_S)
            claim.recorded = True

    async def release(self, claim: Claim) -> None:
        """Forget a claim whose request failed (5xx), so that the retry runs again."""
        await self._release(keys=[claim.key], args=[claim.marker])
