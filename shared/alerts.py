"""Breaking-news alert subscriptions: what a reader's browser may register, and where it is kept.

The feed service stores subscriptions (``POST``/``DELETE /v1/push-subscriptions``); the
notifier reads them. A subscription is the browser's ``PushSubscription`` (endpoint and keys)
and the reader's filter, nothing else: no address, no cookie, no user agent.

Filters: ``breaking`` (the default: articles labelled ``breaking``, i.e. ninjs urgency 1-2,
``Article.breaking``) or ``section:<slug>`` (every new article of that section).

Endpoints are where the notifier will send requests, so they are checked against
``LIVEFEED_PUSH_SERVICES`` (no SSRF): https on a known push service's host, or an exact origin
an operator listed (a private push service; http allowed there only). The host must be a
valid host name in A-label form (``PushServices``); IP addresses only as a listed origin.

Bounds: at most ``LIVEFEED_PUSH_MAX_SUBSCRIPTIONS`` are kept (a count beside them, kept by
the scripts that store and delete one) and one client address (IPv6: its /64) makes at most
``LIVEFEED_PUSH_SUBSCRIBE_PER_HOUR`` new ones an hour; re-storing a kept one is always
allowed. The notifier counts a subscription's failures in its hash (``failures``) and drops it
after ``LIVEFEED_PUSH_DROP_AFTER_FAILURES`` in a row.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
import time
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import idna
import redis.asyncio as aredis

from shared import keys
from shared.models import SLUG_RULE, is_slug
from shared.settings import Settings
from shared.vapid import AUTH_SECRET_BYTES, b64url_decode, load_public

BREAKING = "breaking"
MAX_ENDPOINT_CHARS = 2048
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")


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
    failures: int = 0  # failed sends in a row that count against it (the notifier's)

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
                int(fields.get(b"failures", b"0")),
            )
        except (KeyError, ValueError):
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


class PushServices:
    """``LIVEFEED_PUSH_SERVICES``: which endpoints the notifier may send to, and why not.

    An entry is a host name (``fcm.googleapis.com``), a host name and its subdomains
    (``*.push.services.mozilla.com``: any host ending in ``.push.services.mozilla.com``, on a
    label boundary), or an exact origin (``http://127.0.0.1:8090``: a private push service,
    http and IP addresses allowed there only). An endpoint on a host name must be https on the
    standard port, without credentials, its host a valid DNS name in the A-label form browsers
    send (IDNA 2008 / UTS #46, checked with ``idna``): no percent-escapes, backslashes or other
    characters a URL parser might read as the end of the host, no IP address, no number.
    """

    def __init__(self, entries: tuple[str, ...]) -> None:
        self.origins: frozenset[str] = frozenset(
            e.strip().rstrip("/").lower() for e in entries if "://" in e
        )
        hosts: set[str] = set()
        suffixes: list[str] = []
        for entry in entries:
            name = entry.strip().lower().rstrip(".")
            if "://" in entry or not name:
                continue
            wildcard = name.startswith("*.")
            try:
                name = _a_label(name[2:] if wildcard else name)
            except ValueError as exc:
                raise ValueError(
                    f"push service {entry!r} is not a host name, '*.' and a host name, "
                    f"or an origin: {exc}"
                ) from None
            if wildcard:
                suffixes.append("." + name)
            else:
                hosts.add(name)
        self.hosts: frozenset[str] = frozenset(hosts)
        self.suffixes: tuple[str, ...] = tuple(suffixes)

    def check(self, endpoint: str) -> tuple[str | None, str | None]:
        """(the entry that admits ``endpoint``, None) or (None, why the notifier must not send).

        The entry is the origin as listed, the host, or ``*.`` and the suffix.
        """
        problem = _url_problem(endpoint)
        if problem:
            return None, problem
        scheme, _, rest = endpoint.partition("://")
        netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        origin = f"{scheme}://{netloc}".lower()
        if origin in self.origins:
            return origin, None
        if scheme != "https":
            return None, "must be an https URL"
        host, port = _host_port(netloc)
        if port not in (None, 443):
            return None, "must use the push service's standard port"
        problem = host_problem(host)
        if problem:
            return None, problem
        if host in self.hosts:
            return host, None
        for suffix in self.suffixes:
            if host.endswith(suffix):
                return "*" + suffix, None
        return None, "not a known push service (LIVEFEED_PUSH_SERVICES)"

    def malformed(self, endpoint: str) -> str | None:
        """Why ``endpoint`` is no push endpoint whatever the list (None: it is well-formed)."""
        problem = _url_problem(endpoint)
        if problem:
            return problem
        scheme, _, rest = endpoint.partition("://")
        netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        host = _host_port(netloc)[0]
        if f"{scheme}://{netloc}".lower() in self.origins or _is_ip(host):
            return None  # an origin an operator may list (again)
        return host_problem(host)


@functools.lru_cache(maxsize=8)
def push_services(entries: tuple[str, ...]) -> PushServices:
    """The allowlist of these entries (built once)."""
    return PushServices(entries)


def endpoint_problem(endpoint: str, settings: Settings) -> str | None:
    """Why the notifier must not send to ``endpoint`` (None: it may)."""
    return push_services(tuple(settings.push_services)).check(endpoint)[1]


def _url_problem(endpoint: str) -> str | None:
    """What makes ``endpoint`` no URL the notifier could send to, before its host is looked at."""
    if len(endpoint) > MAX_ENDPOINT_CHARS:
        return f"at most {MAX_ENDPOINT_CHARS} characters"
    if not endpoint.isascii() or not endpoint.isprintable() or " " in endpoint:
        # Browsers send URLs serialised: ASCII, no spaces or control characters (which
        # urlsplit would silently drop, making the host read differently than it is sent).
        return "must be a URL of printable ASCII characters (hosts in their xn-- form)"
    scheme, sep, rest = endpoint.partition("://")
    if not sep or scheme not in ("https", "http"):
        return "must be an https URL"
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in netloc:
        return "must be a push service URL without credentials"
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return "not a URL"
    if parts.netloc != netloc or not netloc:
        return "not a URL"
    return None


def _host_port(netloc: str) -> tuple[str, int | None]:
    """``host`` and port of ``host[:port]`` (checked by ``_url_problem`` to be a port)."""
    if netloc.startswith("["):
        host, _, rest = netloc.partition("]")
        port = rest[1:]
        return host + "]", int(port) if port else None
    host, _, port = netloc.partition(":")
    return host, int(port) if port else None


@functools.lru_cache(maxsize=4096)
def host_problem(host: str) -> str | None:
    """Why ``host`` is not a DNS host name in A-label form (None: it is one)."""
    if _is_ip(host):
        return "must be a push service's host name, not an IP address"
    if not host or host.endswith("."):
        return "must name a host (no empty labels, no trailing dot)"
    try:
        encoded = _a_label(host)
    except ValueError as exc:
        return f"host is not a valid host name: {exc}"
    if encoded != host:
        return "host must be written in lower case, international names in their xn-- form"
    if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
        return "must be a push service's host name, not an IP address"  # 2130706433, 0x7f.1
    return None


def _is_ip(host: str) -> bool:
    """Whether ``host`` is an IP address (``[…]``: IPv6, or whatever a bracket holds)."""
    if host.startswith("["):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _a_label(host: str) -> str:
    """``host`` as IDNA 2008 (UTS #46, STD3 rules) A-labels; ValueError when it is not one."""
    try:
        return idna.encode(host, uts46=True, std3_rules=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(str(exc)) from None


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


# Store one subscription, within the caps. KEYS: the subscription, the count of all, this
# address's new ones this hour, the filter's set. ARGV: endpoint, p256dh, auth, filter,
# created ms, the cap on all (0: none), the cap per address (0: none), seconds the address
# counter lives, the filter keys' prefix, the sid. Returns "new", "kept" (re-stored), "full"
# or "address" (nothing stored).
_SAVE = """
local old = redis.call('HGET', KEYS[1], 'filter')
if not old and redis.call('EXISTS', KEYS[1]) == 1 then old = '' end
if not old then
  local cap = tonumber(ARGV[6])
  if cap > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= cap then return 'full' end
  local per = tonumber(ARGV[7])
  if per > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= per then return 'address' end
  redis.call('INCR', KEYS[2])
  if per > 0 then
    redis.call('INCR', KEYS[3])
    redis.call('EXPIRE', KEYS[3], ARGV[8])
  end
elseif old ~= ARGV[4] then
  redis.call('SREM', ARGV[9] .. old, ARGV[10])
end
redis.call('HSET', KEYS[1], 'endpoint', ARGV[1], 'p256dh', ARGV[2], 'auth', ARGV[3],
           'filter', ARGV[4], 'created', ARGV[5])
redis.call('HDEL', KEYS[1], 'failures')
redis.call('SADD', KEYS[4], ARGV[10])
if old then return 'kept' end
return 'new'
"""

# Forget one subscription. KEYS: the subscription, the count of all. ARGV: the filter keys'
# prefix, the sid. Returns 1 when it was kept.
_DELETE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local name = redis.call('HGET', KEYS[1], 'filter')
if name then redis.call('SREM', ARGV[1] .. name, ARGV[2]) end
redis.call('DEL', KEYS[1])
if redis.call('DECR', KEYS[2]) < 0 then redis.call('SET', KEYS[2], 0) end
return 1
"""

# One more failure in a row for a subscription still kept. KEYS: the subscription.
# Returns the count, 0 when it is gone.
_FAILED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[1], 'failures', 1)
"""

SaveOutcome = Literal["new", "kept", "full", "address"]
ADDRESS_WINDOW_S = 3600


async def save(
    client: aredis.Redis,
    sub: Subscription,
    *,
    max_total: int = 0,
    address: str = "",
    per_address: int = 0,
) -> SaveOutcome:
    """Store (or re-store, with a new filter or keys) one subscription, within the caps.

    ``max_total``: subscriptions kept at most (0: no cap); ``per_address``: new ones the
    client address group digested as ``address`` may make per hour (0: no cap). A re-store
    of a kept one is never capped and clears its failures.
    """
    window = int(time.time() // ADDRESS_WINDOW_S)
    outcome = await client.register_script(_SAVE)(
        keys=[
            keys.alert_subscription(sub.sid),
            keys.ALERT_COUNT,
            keys.alert_new(address, window),
            keys.alert_filter(sub.filter),
        ],
        args=[
            sub.endpoint,
            sub.p256dh,
            sub.auth,
            sub.filter,
            str(int(time.time() * 1000)),
            max_total,
            per_address if address else 0,
            ADDRESS_WINDOW_S + 60,
            keys.alert_filter(""),
            sub.sid,
        ],
    )
    text = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
    if text not in ("new", "kept", "full", "address"):
        raise ValueError(f"unexpected answer from the save script: {text!r}")
    return cast(SaveOutcome, text)


async def delete(client: aredis.Redis, sid: str) -> bool:
    """Forget one subscription; whether it existed."""
    existed = await client.register_script(_DELETE)(
        keys=[keys.alert_subscription(sid), keys.ALERT_COUNT],
        args=[keys.alert_filter(""), sid],
    )
    return bool(existed)


async def count(client: aredis.Redis) -> int:
    """Subscriptions kept (as counted by ``save`` and ``delete``)."""
    value = await client.get(keys.ALERT_COUNT)
    return int(value or 0)


async def record_failures(client: aredis.Redis, sids: list[str]) -> dict[str, int]:
    """Count one more failure in a row for each of ``sids``: their counts (gone ones left out)."""
    script = client.register_script(_FAILED)
    async with client.pipeline(transaction=False) as pipe:
        for sid in sids:
            await script(keys=[keys.alert_subscription(sid)], client=pipe)
        counts = await pipe.execute()
    return {sid: int(n) for sid, n in zip(sids, counts, strict=True) if int(n) > 0}


async def clear_failures(client: aredis.Redis, sids: list[str]) -> None:
    """A send to each of ``sids`` went through: their failures in a row start again from 0."""
    if not sids:
        return
    async with client.pipeline(transaction=False) as pipe:
        for sid in sids:
            pipe.hdel(keys.alert_subscription(sid), "failures")
        await pipe.execute()


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
