"""The timeline store on a real Redis: the rolling window and the event log stay in agreement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from services.feed.store import TimelineWriter, retract_op, upsert_op
from shared import keys
from shared.models import Article
from shared.redis_server import EmbeddedRedis
from shared.settings import Settings
from tests.conftest import short_tmpdir


@pytest.fixture(scope="module")
def client() -> Iterator[redis.Redis]:
    """A Redis of this module's own (the window settings here differ from the stack's)."""
    with EmbeddedRedis(short_tmpdir()) as server:
        connection = redis.Redis.from_url(server.url)
        yield connection
        connection.close()


@pytest.fixture(autouse=True)
def empty(client: redis.Redis) -> None:
    client.flushall()


def _article(article_id: str, published: datetime) -> Article:
    return Article.model_validate(
        {"id": article_id, "title": f"T {article_id}", "published_at": published.isoformat(),
         "section": "news", "labels": ["exclusive"]}
    )  # fmt: skip


def test_max_items_drops_the_oldest_from_every_index(client: redis.Redis) -> None:
    settings = Settings(window_days=0, max_items=3)
    writer = TimelineWriter(client, settings)
    start = datetime(2024, 10, 24, 9, 0, tzinfo=UTC)
    ops = [upsert_op(_article(f"n{n}", start + timedelta(minutes=n)), settings) for n in range(5)]
    outcomes = writer.apply(ops)
    assert [o["outcome"] for o in outcomes] == ["published"] * 5
    kept = [m.decode() for m in client.zrevrange(keys.TIMELINE, 0, -1)]
    assert kept == ["n4", "n3", "n2"]
    assert [m.decode() for m in client.zrevrange(keys.section("news"), 0, -1)] == kept
    assert [m.decode() for m in client.zrevrange(keys.label("exclusive"), 0, -1)] == kept
    assert not client.exists(keys.article("n0"))
    assert client.xlen(keys.EVENTS) == 5


def test_window_days_drops_old_items_and_refuses_older_ones(client: redis.Redis) -> None:
    settings = Settings(window_days=7)
    writer = TimelineWriter(client, settings)
    now = datetime.now(UTC)
    outcomes = writer.apply(
        [
            upsert_op(_article("fresh", now - timedelta(days=1)), settings),
            upsert_op(_article("ancient", now - timedelta(days=30)), settings),
        ]
    )
    assert [o["outcome"] for o in outcomes] == ["published", "expired"]
    assert [m.decode() for m in client.zrange(keys.TIMELINE, 0, -1)] == ["fresh"]
    assert client.xlen(keys.EVENTS) == 1


def test_retraction_leaves_a_tombstone_that_stops_older_copies(client: redis.Redis) -> None:
    settings = Settings(window_days=0)
    writer = TimelineWriter(client, settings)
    published = datetime(2024, 10, 24, 9, 0, tzinfo=UTC)
    article = _article("gone", published)
    writer.apply([upsert_op(article, settings)])
    assert writer.apply([retract_op("gone")])[0]["outcome"] == "retracted"
    assert writer.apply([retract_op("gone")])[0]["outcome"] == "not_found"
    # A late copy of the same version does not bring it back.
    assert writer.apply([upsert_op(article, settings)])[0]["outcome"] == "unchanged"
    assert client.zcard(keys.TIMELINE) == 0
    # A genuinely newer version does.
    newer = article.model_copy(update={"version": 2})
    assert writer.apply([upsert_op(newer, settings)])[0]["outcome"] == "published"


def test_rerunning_a_batch_changes_nothing(client: redis.Redis) -> None:
    """What makes a worker crash between apply and acknowledgement harmless."""
    settings = Settings(window_days=0)
    writer = TimelineWriter(client, settings)
    start = datetime(2024, 10, 24, 9, 0, tzinfo=UTC)
    ops = [upsert_op(_article(f"r{n}", start + timedelta(minutes=n)), settings) for n in range(3)]
    writer.apply(ops)
    again = writer.apply(ops)
    assert [o["outcome"] for o in again] == ["unchanged"] * 3
    assert client.xlen(keys.EVENTS) == 3
