"""The timeline store on a real Redis: the rolling window and the event log stay in agreement."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis
import redis.asyncio as aredis

from services.feed.store import (
    RELEASE_OP,
    Cursor,
    TimelineReader,
    TimelineWriter,
    retract_op,
    upsert_op,
)
from shared import keys
from shared.models import Article
from shared.redis_server import EmbeddedRedis
from shared.settings import Settings
from tests.conftest import short_tmpdir
from tests.locales import compiled_locale


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedRedis]:
    """A Redis of this module's own (the window settings here differ from the stack's)."""
    with EmbeddedRedis(short_tmpdir()) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: EmbeddedRedis) -> Iterator[redis.Redis]:
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
    # The two oldest fit when they came, but the same call trimmed them: never announced.
    assert [o["outcome"] for o in outcomes] == ["expired"] * 2 + ["published"] * 3
    assert [o.get("event_id") is not None for o in outcomes] == [False] * 2 + [True] * 3
    kept = [m.decode() for m in client.zrevrange(keys.TIMELINE, 0, -1)]
    assert kept == ["n4", "n3", "n2"]
    assert [m.decode() for m in client.zrevrange(keys.section("news"), 0, -1)] == kept
    assert [m.decode() for m in client.zrevrange(keys.label("exclusive"), 0, -1)] == kept
    # Gone from every page; only its rank is remembered (against older copies), for a while.
    assert client.hget(keys.article("n0"), "doc") is None
    assert client.hget(keys.article("n0"), "state") == b"expired"
    assert 0 < client.ttl(keys.article("n0")) <= 7 * 86_400
    assert client.xlen(keys.EVENTS) == 3
    # A later call trims the oldest again, silently: readers' pages roll by themselves.
    later = upsert_op(_article("n5", start + timedelta(minutes=5)), settings)
    assert writer.apply([later])[0]["outcome"] == "published"
    assert client.hget(keys.article("n2"), "state") == b"expired"
    assert client.xlen(keys.EVENTS) == 4


def test_an_item_beyond_max_items_on_arrival_is_expired_and_never_published(
    client: redis.Redis,
) -> None:
    """Re-posting a whole feed must not re-publish the items the count trim dropped."""
    settings = Settings(window_days=0, max_items=3)
    writer = TimelineWriter(client, settings)
    start = datetime(2024, 10, 24, 9, 0, tzinfo=UTC)
    newest = [upsert_op(_article(f"k{n}", start + timedelta(hours=n)), settings) for n in (5, 6, 7)]
    writer.apply(newest)
    older = upsert_op(_article("k1", start + timedelta(hours=1)), settings)
    for _ in range(2):  # the second time is a feed polled again
        outcome = writer.apply([older])[0]
        assert outcome["outcome"] in {"expired", "unchanged"}
        assert "event_id" not in outcome
    assert client.xlen(keys.EVENTS) == 3
    assert [m.decode() for m in client.zrevrange(keys.TIMELINE, 0, -1)] == ["k7", "k6", "k5"]


def test_an_older_copy_of_an_expired_article_is_stale(client: redis.Redis) -> None:
    settings = Settings(window_days=7)
    writer = TimelineWriter(client, settings)
    now = datetime.now(UTC)
    newer = _article("aged", now - timedelta(days=30)).model_copy(update={"version": 2})
    assert writer.apply([upsert_op(newer, settings)])[0]["outcome"] == "expired"
    # Version 1 was published yesterday: an older copy, whatever its date.
    older = _article("aged", now - timedelta(days=1)).model_copy(update={"version": 1})
    assert writer.apply([upsert_op(older, settings)])[0]["outcome"] == "stale"
    assert client.zcard(keys.TIMELINE) == 0
    assert client.xlen(keys.EVENTS) == 0


def test_an_embargo_released_past_the_window_is_not_published(client: redis.Redis) -> None:
    settings = Settings(window_days=7)
    writer = TimelineWriter(client, settings)
    now = datetime.now(UTC)
    article = _article("late", now - timedelta(days=7) + timedelta(milliseconds=500))
    embargoed = article.model_copy(update={"embargoed_until": now + timedelta(seconds=1)})
    assert writer.apply([upsert_op(embargoed, settings)])[0]["outcome"] == "embargoed"
    deadline = time.monotonic() + 10
    released: list[dict[str, object]] = []
    while not released:
        assert time.monotonic() < deadline, "the embargo was never released"
        released = writer.apply([RELEASE_OP])
    # By its release it has left the window: not shown, so not announced either.
    assert released == [{"id": "late", "outcome": "expired"}]
    assert client.xlen(keys.EVENTS) == 0
    assert client.zcard(keys.TIMELINE) == 0


def test_a_retraction_wins_over_a_write_accepted_before_it(client: redis.Redis) -> None:
    """Two workers may apply an earlier-queued PUT after a later DELETE: it stays retracted."""
    settings = Settings(window_days=0)
    writer = TimelineWriter(client, settings)
    published = datetime(2024, 10, 24, 9, 0, tzinfo=UTC)
    put = upsert_op(_article("raced", published), settings) | {"at": 1_000}
    delete = retract_op("raced") | {"at": 2_000}
    assert writer.apply([delete])[0]["outcome"] == "not_found"
    assert writer.apply([put])[0]["outcome"] == "stale"
    assert client.zcard(keys.TIMELINE) == 0
    # A write accepted after the retraction brings the article back.
    later = put | {"at": 3_000}
    assert writer.apply([later])[0]["outcome"] == "published"


@pytest.mark.parametrize("locale", ["en_US.UTF-8"])
async def test_paging_follows_byte_order_under_any_server_locale(locale: str) -> None:
    """Ids sharing a time page out in the sorted set's byte order, not the locale's collation."""
    env = {**os.environ, "LC_ALL": locale, "LOCPATH": str(compiled_locale(locale))}
    with EmbeddedRedis(short_tmpdir(), env=env) as server:
        connection = redis.Redis.from_url(server.url)
        aconnection = aredis.Redis.from_url(server.url)
        try:
            settings = Settings(window_days=0)
            ids = ["pg-a", "pg-B", "pg-c", "pg-D", "pg-e", "pg-f-1", "pg-f.2"]
            moment = datetime(2024, 10, 24, 9, 0, tzinfo=UTC)
            TimelineWriter(connection, settings).apply(
                [upsert_op(_article(i, moment), settings) for i in ids]
            )
            seen = await _page_all(TimelineReader(aconnection, settings), limit=2)
            assert seen == sorted(ids, key=str.encode, reverse=True)
        finally:
            connection.close()
            await aconnection.aclose()


async def test_items_before_1970_page_with_working_cursors(
    client: redis.Redis, server: EmbeddedRedis
) -> None:
    settings = Settings(window_days=0)
    writer = TimelineWriter(client, settings)
    moments = [datetime(1969, 7, 20, 20, 17, tzinfo=UTC) + timedelta(days=d) for d in range(-3, 3)]
    writer.apply([upsert_op(_article(f"m{n}", m), settings) for n, m in enumerate(moments)])

    aclient = aredis.Redis.from_url(server.url)
    try:
        seen = await _page_all(TimelineReader(aclient, settings), limit=2)
    finally:
        await aclient.aclose()
    assert seen == [f"m{n}" for n in reversed(range(6))]


async def _page_all(reader: TimelineReader, limit: int) -> list[str]:
    seen: list[str] = []
    before: Cursor | None = None
    while True:
        page = await reader.page(limit=limit, before=before)
        seen.extend(h["id"] for h in page.headlines)
        if page.next is None:
            return seen
        before = Cursor.decode(page.next.encode())  # the cursor as a client sends it back


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


def test_the_script_keeps_scoped_tokens_to_records_of_their_sections(client: redis.Redis) -> None:
    """The apply script is the authority on scope (ingest's check races with the worker): a
    record of another section, live or not, is refused; a scoped tombstone of an id without an
    article holds in its sections only; every tombstone write is in the history, once."""
    settings = Settings(window_days=0)
    writer = TimelineWriter(client, settings)
    moment = datetime(2024, 10, 24, 9, 0, tzinfo=UTC)

    def by(op: dict[str, object], name: str, *scope: str) -> dict[str, object]:
        return {**op, "by": name, "at": 1_000, **({"scope": list(scope)} if scope else {})}

    def upsert(article_id: str, section: str, version: int) -> dict[str, object]:
        article = _article(article_id, moment).model_copy(
            update={"section": section, "version": version}
        )
        return upsert_op(article, settings)

    def actions(article_id: str) -> list[tuple[str, str]]:
        raw = client.lrange(keys.history(article_id), 0, -1)
        return [(entry["action"], entry["by"]) for entry in map(orjson.loads, raw)]

    writer.apply([by(upsert("sc-1", "world", 1), "world", "world")])
    assert writer.apply([by(retract_op("sc-1"), "world", "world")])[0]["outcome"] == "retracted"
    for op in (upsert("sc-1", "sport", 2), retract_op("sc-1", rank=(10**12, 0))):
        (refused,) = writer.apply([by(op, "sport", "sport")])
        assert refused["outcome"] == "rejected"
        assert (
            refused["reason"] == "section: forbidden: the token sport may not change section world"
        )
    assert writer.apply([by(upsert("sc-1", "world", 2), "world", "world")])[0]["outcome"] == (
        "published"
    )

    kill = by(retract_op("sc-2", rank=(10**12, 0)), "sport", "sport")
    assert writer.apply([kill])[0]["outcome"] == "not_found"
    assert writer.apply([kill])[0]["outcome"] == "not_found"  # a re-run: no second entry
    assert actions("sc-2") == [("retracted", "sport")]
    assert writer.apply([by(upsert("sc-2", "sport", 3), "sport", "sport")])[0]["outcome"] == (
        "stale"
    )
    # World's own cancel would raise the rank of sport's tombstone: refused, nothing changed.
    (refused,) = writer.apply([by(retract_op("sc-2", rank=(10**13, 0)), "world", "world")])
    assert refused["outcome"] == "rejected"
    assert writer.apply([by(upsert("sc-2", "world", 1), "world", "world")])[0]["outcome"] == (
        "published"
    )
    assert actions("sc-2") == [("retracted", "sport"), ("published", "world")]

    # A tombstone by a token of every section belongs to every section.
    assert writer.apply([by(retract_op("sc-3"), "cms")])[0]["outcome"] == "not_found"
    (refused,) = writer.apply([by(upsert("sc-3", "sport", 5), "sport", "sport")])
    assert refused["reason"].endswith("may not change an id retracted for every section")
    assert actions("sc-3") == [("retracted", "cms")]
