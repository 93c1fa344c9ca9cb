"""Every ``LIVEFEED_*`` variable, read once into one object that fails loudly on a bad value."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_ORIGIN = re.compile(r"^https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


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

    model_config = SettingsConfigDict(env_prefix="LIVEFEED_", extra="ignore", frozen=True)

    redis_url: str | None = Field(
        default=None, description="A Redis to use; unset starts the embedded Redis."
    )
    data_dir: Path = Field(default=Path(".livefeed"), description="Embedded Redis data folder.")
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
        default=1000, ge=1, description="How long WAIT waits for the replicas, in ms."
    )
    host: str = "127.0.0.1"
    ingest_port: int = Field(default=8001, ge=0, le=65535)
    feed_port: int = Field(default=8002, ge=0, le=65535)
    push_port: int = Field(default=8003, ge=0, le=65535)
    worker_metrics_port: int = Field(
        default=8004, ge=0, le=65535, description="The worker's /metrics and /healthz port."
    )
    ingest_tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)
    timezone: str = "Europe/Kyiv"
    window_days: int = Field(default=7, ge=0)
    max_items: int = Field(default=5000, ge=1)
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    embed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Sites that may embed the column: CORS, WebSocket Origin, frame-ancestors.",
    )
    # Public URLs as a browser sees them; default to host:port of each service.
    public_push_url: str | None = None
    public_feed_url: str | None = None
    # Client side: the bearer token `livefeed post` sends (LIVEFEED_TOKEN).
    token: str | None = Field(default=None, repr=False)

    # Limits and tuning: not part of the public contract, but every one is an env variable.
    stream_maxlen: int = Field(default=10_000, ge=10, description="Events kept for resume.")
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_batch_items: int = Field(default=500, ge=1)
    queue_name: str = "livefeed"
    job_retries: int = Field(default=3, ge=0)
    job_timeout: int = Field(
        default=10,
        ge=1,
        description="Seconds one apply job may run; a dead worker's job reruns after this + 2 s.",
    )
    ingest_rate_limit: int = Field(
        default=6000,
        ge=0,
        description="Requests per token per minute (all ingest copies); 0: no limit.",
    )
    idempotency_budget_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=0,
        description="Stored Idempotency-Key answers (compressed) one token may keep per 24 h.",
    )
    ingest_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes `livefeed ingest` runs, sharing its port (one per core).",
    )
    client_buffer_bytes: int = Field(
        default=256 * 1024, ge=4096, description="Unsent bytes a slow push client may hold."
    )
    max_connections: int = Field(default=20_000, ge=1)
    max_connections_per_ip: int = Field(
        default=1000, ge=1, description="Clients from one address per push process."
    )
    ping_interval: float = Field(default=20.0, gt=0)
    cache_max_age: int = Field(
        default=10, ge=0, description="Seconds caches may keep the timeline and feeds."
    )
    edge_max_age: int = Field(
        default=3600,
        ge=0,
        description="Seconds a CDN or Varnish may keep a response (Surrogate-Control); "
        "purged by surrogate key when what it shows changes.",
    )
    redis_timeout: float = Field(default=2.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator(
        "ingest_tokens", "allowed_origins", "embed_origins", "redis_sentinels", mode="before"
    )
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("ingest_tokens")
    @classmethod
    def _tokens_long_enough(cls, tokens: list[str]) -> list[str]:
        for token in tokens:
            if len(token) < 8:
                raise ValueError("each ingest token needs at least 8 characters")
        return tokens

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

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """``LIVEFEED_REDIS_SENTINELS`` as (host, port) pairs (``[::1]:26379`` allowed)."""
        return [host_port(sentinel) for sentinel in self.redis_sentinels]

    @field_validator("embed_origins")
    @classmethod
    def _origins_exact(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not _ORIGIN.match(origin.rstrip("/")):
                raise ValueError(
                    f"{origin!r} is not an origin like https://www.example.com (no '*', no path)"
                )
        return origins

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
        """The push service's WebSocket base URL as a browser reaches it."""
        if self.public_push_url:
            return self.public_push_url
        return f"ws://{_browser_host(self.host)}:{self.push_port}"

    @property
    def push_http_url(self) -> str:
        """The push service's HTTP base URL as a browser reaches it (for SSE on ``/v1/events``)."""
        scheme, sep, rest = self.push_url.partition("://")
        return {"ws": "http", "wss": "https"}.get(scheme, scheme) + sep + rest

    @property
    def origins(self) -> frozenset[str]:
        """Browser origins the push service accepts: the feed page's own (or
        ``LIVEFEED_ALLOWED_ORIGINS``) and the sites that embed the column."""
        if self.allowed_origins:
            return frozenset(origin.rstrip("/") for origin in self.allowed_origins) | self.embeds
        own = {self.feed_url.rstrip("/")}
        if self.host in {"127.0.0.1", "localhost", "0.0.0.0", "::"}:  # noqa: S104 - a comparison
            own |= {f"http://localhost:{self.feed_port}", f"http://127.0.0.1:{self.feed_port}"}
        return frozenset(own) | self.embeds

    @property
    def embeds(self) -> frozenset[str]:
        """``LIVEFEED_EMBED_ORIGINS``: sites that may put the column on their pages."""
        return frozenset(origin.rstrip("/").lower() for origin in self.embed_origins)


def _browser_host(bind_host: str) -> str:
    """A wildcard bind address is not something a browser can open."""
    return "localhost" if bind_host in {"0.0.0.0", "::", ""} else bind_host  # noqa: S104


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
