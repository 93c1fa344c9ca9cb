"""The apply script is the authority on drafts, roles and If-Match (issue 25): what ingest
answered early may have changed by the time a job is applied. On a real Redis, with the
worker's own op builder, as a job that raced another write would run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import redis

from services.feed.jobs import build_ops
from services.feed.store import TimelineWriter
from shared import keys
from shared.settings import Settings
from tests.helpers import empty_store

NOW = datetime.now(UTC).replace(microsecond=0).isoformat()


@pytest.fixture
def writer(redis_client: redis.Redis) -> TimelineWriter:
    empty_store(redis_client)
    return TimelineWriter(redis_client, Settings(window_days=7))


def run(writer: TimelineWriter, *items: dict[str, Any]) -> list[dict[str, Any]]:
    ops, rejected = build_ops(list(items), writer.settings, "rid", 1)
    assert not rejected, rejected
    return writer.apply(ops)


def write(article_id: str, by: str, title: str, **extra: Any) -> dict[str, Any]:
    article = {"id": article_id, "title": title, "published_at": NOW, "updated_at": NOW}
    return {"op": "upsert", "by": by, "article": {**article, **extra.pop("fields", {})}, **extra}


def desk_types(client: redis.Redis) -> list[str]:
    return [orjson.loads(f[b"data"])["type"] for _i, f in client.xrange(keys.DESK_EVENTS)]


def test_if_match_is_checked_again_when_applied(
    writer: TimelineWriter, redis_client: redis.Redis
) -> None:
    run(writer, write("a-1", "rita", "Storm warning"))
    later = "2099-01-01T00:00:00+00:00"
    run(writer, write("a-1", "desk", "Storm warning: schools shut", fields={"updated_at": later}))
    events = redis_client.xlen(keys.EVENTS)
    [outcome] = run(writer, write("a-1", "rita", "Mine", fields={"version": 9}, ifrev=1))
    assert outcome["outcome"] == "stale"
    current = outcome["current"]
    assert (current["version"], current["by"], current["title"]) == (
        2,
        "desk",
        "Storm warning: schools shut",
    )
    assert redis_client.xlen(keys.EVENTS) == events
    doc = orjson.loads(redis_client.hget(keys.article("a-1"), "doc") or b"{}")
    assert doc["title"] == "Storm warning: schools shut"


def test_a_publish_applies_only_the_draft_version_read_and_a_rerun_changes_nothing(
    writer: TimelineWriter, redis_client: redis.Redis
) -> None:
    assert run(writer, write("d-1", "reporter", "First", draft=True, role="contributor")) == [
        {"id": "d-1", "outcome": "draft", "version": 1}
    ]
    run(writer, write("d-1", "reporter", "Second", draft=True, role="contributor"))
    assert redis_client.xlen(keys.EVENTS) == 0  # drafts: no event, nothing indexed
    assert redis_client.zcard(keys.TIMELINE) == 0
    # Ingest read version 1; the draft changed before the job ran.
    [stale] = run(writer, write("d-1", "rita", "First", publish=1))
    assert stale["outcome"] == "stale"
    assert (stale["current"]["version"], stale["current"]["by"]) == (2, "reporter")
    assert redis_client.zcard(keys.TIMELINE) == 0
    [published] = run(writer, write("d-1", "rita", "Second", publish=2))
    assert published["outcome"] == "published"
    assert redis_client.zrange(keys.TIMELINE, 0, -1) == [b"d-1"]
    assert not redis_client.exists(keys.draft("d-1"))
    assert redis_client.zcard(keys.DRAFTS) == 0
    events = redis_client.xlen(keys.EVENTS)
    # The job run again (a worker killed after the apply): no draft, nothing changes.
    [again] = run(writer, write("d-1", "rita", "Second", publish=2))
    assert again["outcome"] == "not_found"
    assert redis_client.xlen(keys.EVENTS) == events
    assert desk_types(redis_client) == ["draft", "draft", "published"]


def test_a_contributor_may_not_touch_an_article_record_whatever_ingest_saw(
    writer: TimelineWriter, redis_client: redis.Redis
) -> None:
    run(writer, write("l-1", "rita", "Live"))
    before = redis_client.hgetall(keys.article("l-1"))
    outcomes = run(
        writer,
        write("l-1", "reporter", "Mine", draft=True, role="contributor"),
        write("l-2", "reporter", "Published?", role="contributor"),
        {"op": "retract", "id": "l-1", "by": "reporter", "role": "contributor"},
        {"op": "return", "id": "l-1", "by": "reporter", "note": "no", "role": "contributor"},
    )
    assert [o["outcome"] for o in outcomes] == ["rejected"] * 4
    assert all(o["reason"].startswith("role: forbidden") for o in outcomes), outcomes
    assert redis_client.hgetall(keys.article("l-1")) == before
    assert not redis_client.exists(keys.draft("l-1"), keys.article("l-2"))


def test_a_draft_save_with_an_old_version_changes_nothing(
    writer: TimelineWriter, redis_client: redis.Redis
) -> None:
    run(writer, write("d-2", "rita", "One", draft=True))
    run(writer, write("d-2", "desk", "Two", draft=True, ifrev=1))
    [stale] = run(writer, write("d-2", "rita", "Three", draft=True, ifrev=1))
    assert stale["outcome"] == "stale"
    assert (stale["current"]["version"], stale["current"]["by"]) == (2, "desk")
    assert redis_client.hget(keys.draft("d-2"), "title") == b"Two"


def _stored_rank(client: redis.Redis, article_id: str) -> list[int]:
    v, u = client.hmget(keys.article(article_id), "v", "u")
    return [int(float(v or 0)), int(float(u or 0))]


def test_two_editors_patching_one_item_the_second_is_told_who_whatever_its_rank(
    writer: TimelineWriter, redis_client: redis.Redis
) -> None:
    """Both PATCHes were merged onto version 1 (their ``base``) with If-Match 1; the first
    applies. The second is a conflict naming the first editor, with ``current``, whether its
    rank is newer (the base check would refuse it) or older (the rank check would)."""
    run(writer, write("p-1", "rita", "Storm warning"))
    base = _stored_rank(redis_client, "p-1")
    newer = "2099-01-01T00:00:00+00:00"
    newest = "2099-01-01T00:00:01+00:00"
    [first] = run(writer, write("p-1", "desk", "Schools shut", base=base, ifrev=1,
                                fields={"updated_at": newer}))  # fmt: skip
    assert first["outcome"] == "updated"
    for updated_at in (newest, "2098-12-31T00:00:00+00:00"):
        [second] = run(writer, write("p-1", "oleh", "Odesa", base=base, ifrev=1,
                                     fields={"updated_at": updated_at}))  # fmt: skip
        assert second["outcome"] == "stale", second
        current = second["current"]
        assert current is not None, second
        assert (current["version"], current["by"], current["title"]) == (2, "desk", "Schools shut")
    doc = orjson.loads(redis_client.hget(keys.article("p-1"), "doc") or b"{}")
    assert doc["title"] == "Schools shut"
    # The first write's job run again (a worker killed after the apply): unchanged, as ever.
    [again] = run(writer, write("p-1", "desk", "Schools shut", base=base, ifrev=1,
                                fields={"updated_at": newer}))  # fmt: skip
    assert again["outcome"] == "unchanged"


def test_an_editors_first_draft_of_a_live_item_is_checked_against_the_articles_version(
    writer: TimelineWriter, redis_client: redis.Redis
) -> None:
    run(writer, write("l-3", "rita", "Live"))
    [saved] = run(writer, write("l-3", "rita", "A change", draft=True, ifrev=1))
    assert saved == {"id": "l-3", "outcome": "draft", "version": 1}
    run(writer, write("l-4", "rita", "Live too"))
    run(writer, write("l-4", "desk", "Live too, updated", fields={"version": 2}))
    [stale] = run(writer, write("l-4", "rita", "Mine", draft=True, ifrev=1))
    assert stale["outcome"] == "stale"
    assert (stale["current"]["version"], stale["current"]["by"]) == (2, "desk")
    assert not redis_client.exists(keys.draft("l-4"))


def test_a_stale_versioned_retraction_keeps_the_draft(
    writer: TimelineWriter, redis_client: redis.Redis
) -> None:
    run(writer, write("r-1", "rita", "Live", fields={"version": 5}))
    run(writer, write("r-1", "rita", "A change", draft=True))
    [stale] = run(writer, {"op": "retract", "id": "r-1", "by": "wire", "v": 4, "u": 0})
    assert stale["outcome"] == "stale"
    assert redis_client.hget(keys.draft("r-1"), "title") == b"A change"
    assert desk_types(redis_client) == ["draft"]
    assert redis_client.hget(keys.article("r-1"), "state") == b"live"
