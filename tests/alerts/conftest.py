"""A stack with breaking-news alerts on: its own Redis, VAPID keys, a notifier, and a local
push service (tests/pushstub.py) that is the only push service subscriptions may use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from shared.redis_server import EmbeddedRedis
from shared.vapid import generate_keys
from tests.conftest import short_tmpdir
from tests.helpers import empty_store
from tests.procs import Stack, free_port
from tests.pushstub import PushServiceStub

ALERTS_PER_HOUR = 12
DROP_AFTER_FAILURES = 3
FEED_ORIGIN_HOST = "127.0.0.1"


@dataclass
class AlertStack:
    """The services, the stub and a Redis client."""

    stack: Stack
    stub: PushServiceStub
    redis: redis.Redis
    public_key: str

    @property
    def feed(self) -> str:
        return self.stack.url("feed")

    @property
    def notifier(self) -> str:
        return self.stack.url("notifier")

    @property
    def origin(self) -> dict[str, str]:
        """The Origin header of the live page (the feed service's own origin)."""
        return {"Origin": self.feed}


@pytest.fixture(scope="module")
def alert_stack() -> Iterator[AlertStack]:
    private, public = generate_keys()
    stub = PushServiceStub(public).start()
    with EmbeddedRedis(short_tmpdir()) as server:
        stack = Stack(
            server.url,
            short_tmpdir(),
            extra_env={
                "LIVEFEED_VAPID_PRIVATE_KEY": private,
                "LIVEFEED_VAPID_PUBLIC_KEY": public,
                "LIVEFEED_VAPID_SUBJECT": "mailto:alerts@example.com",
                "LIVEFEED_PUSH_SERVICES": stub.origin,
                "LIVEFEED_PUSH_ALERTS_PER_HOUR": str(ALERTS_PER_HOUR),
                "LIVEFEED_PUSH_SUBSCRIBE_RATE_LIMIT": "100000",
                "LIVEFEED_PUSH_SUBSCRIBE_PER_HOUR": "0",  # every test subscribes from 127.0.0.1
                "LIVEFEED_PUSH_DROP_AFTER_FAILURES": str(DROP_AFTER_FAILURES),
                "LIVEFEED_EMBED_ORIGINS": "https://www.example.com",
            },
        )
        stack.ports["notifier"] = free_port()
        stack.extra_env["LIVEFEED_NOTIFIER_PORT"] = str(stack.ports["notifier"])
        stack.start()
        stack.start_service("notifier")
        stack.wait_healthy("notifier")
        client = redis.Redis.from_url(server.url)
        try:
            yield AlertStack(stack, stub, client, public)
        finally:
            client.close()
            stack.stop()
            stub.stop()


@pytest.fixture
def alerts(alert_stack: AlertStack) -> AlertStack:
    """The alert stack with no subscriptions, articles or alerts left from other tests."""
    empty_store(alert_stack.redis)
    alert_stack.stub.subscriptions.clear()
    alert_stack.stub.rejected.clear()
    return alert_stack
