"""What a reader that fell behind is sent once it reads again: the coalescing rules.

The end-to-end case (a story edited 30 times while a real socket is stalled) is in
tests/reliability/test_slow_reader.py; these pin down each pair of changes to one article.
"""

from __future__ import annotations

import json
from typing import cast

import pytest
from websockets.asyncio.server import ServerConnection

from services.push.hub import Backlog
from shared.events import Event

_seq = iter(range(1, 1_000_000))


def change(kind: str, article: str, title: str = "") -> Event:
    """An event as the feed worker's apply script writes it to the stream."""
    headline = {"id": article, "title": title} if kind != "retracted" else {"id": article}
    fields = {
        b"type": kind.encode(),
        b"id": article.encode(),
        b"headline": json.dumps(headline).encode(),
    }
    return Event.from_entry(f"1729781700000-{next(_seq)}".encode(), fields)


def sent(backlog: Backlog) -> list[tuple[str, str, str | None]]:
    """What the reader gets, in order: (type, article, title)."""
    out = []
    while backlog.held:
        frame = json.loads(backlog.take().text)
        out.append((frame["type"], frame["headline"]["id"], frame["headline"].get("title")))
    return out


@pytest.fixture
def backlog() -> Backlog:
    return Backlog(cast(ServerConnection, object()), (None, None))


def test_an_unseen_publication_then_edits_arrives_once_as_published_with_the_last_title(
    backlog: Backlog,
) -> None:
    backlog.hold(change("published", "a", "first"))
    backlog.hold(change("published", "b", "other"))
    assert backlog.hold(change("updated", "a", "second"))
    assert backlog.hold(change("updated", "a", "third"))
    # The merged change takes the newest event's place, so event ids still only go up.
    assert sent(backlog) == [("published", "b", "other"), ("published", "a", "third")]
    assert backlog.size == 0


def test_edits_then_a_retraction_leave_only_the_retraction(backlog: Backlog) -> None:
    backlog.hold(change("updated", "a", "second"))
    assert backlog.hold(change("retracted", "a"))
    assert sent(backlog) == [("retracted", "a", None)]


def test_a_republication_after_a_retraction_is_not_merged(backlog: Backlog) -> None:
    backlog.hold(change("retracted", "a"))
    assert not backlog.hold(change("published", "a", "back"))
    assert sent(backlog) == [("retracted", "a", None), ("published", "a", "back")]


def test_changes_to_different_articles_are_all_kept_and_counted_in_bytes(
    backlog: Backlog,
) -> None:
    events = [change("updated", f"a{n}", "t") for n in range(3)]
    for event in events:
        assert not backlog.hold(event)
    assert backlog.size == sum(len(e.wire) for e in events)
    assert [a for _, a, _ in sent(backlog)] == ["a0", "a1", "a2"]
