"""The feed worker's small HTTP port: ``/metrics``, ``/healthz`` and ``/readyz`` on
``LIVEFEED_WORKER_METRICS_PORT`` (served by ``shared.metrics_port``)."""

from __future__ import annotations

import logging
from typing import Any
from wsgiref.simple_server import WSGIServer

import redis

from services.feed.metrics import register_redis_state
from shared.metrics_port import serve_metrics
from shared.redis_client import sync_client
from shared.settings import Settings

log = logging.getLogger(__name__)


def start_worker_http(settings: Settings, url: str) -> WSGIServer | None:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``LIVEFEED_WORKER_METRICS_PORT``.

    A taken port is logged and the worker carries on without it: applying articles matters
    more than being watched.
    """
    # Its own client with a read timeout: the worker's own one blocks on BLMOVE for seconds.
    client = sync_client(url, settings)
    register_redis_state(client, settings)

    def healthz() -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ok"}

    def readyz() -> tuple[int, dict[str, Any]]:
        try:
            client.ping()
        except redis.RedisError:
            return 503, {"status": "unavailable", "redis": "unreachable"}
        return 200, {"status": "ready", "redis": "ok"}

    try:
        server = serve_metrics(
            settings.host, settings.worker_metrics_port, {"/healthz": healthz, "/readyz": readyz}
        )
    except OSError as exc:
        log.error(
            "worker metrics port %s unavailable (%s); running without /metrics",
            settings.worker_metrics_port,
            exc,
        )
        return None
    log.info(
        "worker metrics listening",
        extra={"host": settings.host, "port": server.server_port},
    )
    return server
