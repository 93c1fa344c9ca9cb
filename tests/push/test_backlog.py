"""What a reader that fell behind is sent once it reads again: the coalescing rules.

The end-to-end case (a story edited 30 times while a real socket is stalled) is in
tests/reliability/test_slow_reader.py; these pin down each pair of changes to one article.
"""

from __future__ import annotations

import json
from typing import cast

import pytest

from services.push.hub import Backlog, Reader
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


def sent(backlog: Backlog) -> list[tuple[str, str, str | None, str]]:
    """What the reader gets, in order: (type, article, title, event id)."""
    out = []
    while backlog.held:
        frame = json.loads(backlog.take().text)
        headline = frame["headline"]
        out.append((frame["type"], headline["id"], headline.get("title"), frame["event_id"]))
    return out


@pytest.fixture
def backlog() -> Backlog:
    return Backlog(cast(Reader, object()))


def test_an_unseen_publication_then_edits_arrives_once_as_published_with_the_last_title(
    backlog: Backlog,
) -> None:
    first = change("published", "a", "first")
    other = change("published", "b", "other")
    backlog.hold(first)
    backlog.hold(other)
    assert backlog.hold(change("updated", "a", "second"))
    assert backlog.hold(change("updated", "a", "third"))
    # Merged in place: the publication's position and id, the newest headline. A reader cut
    # off after it resumes from that id, so the later edits are replayed, never skipped.
    assert sent(backlog) == [
        ("published", "a", "third", str(first.id)),
        ("published", "b", "other", str(other.id)),
    ]
    assert backlog.size == 0


def test_edits_then_a_retraction_leave_only_the_retraction(backlog: Backlog) -> None:
    edit = change("updated", "a", "second")
    backlog.hold(edit)
    assert backlog.hold(change("retracted", "a"))
    assert sent(backlog) == [("retracted", "a", None, str(edit.id))]


def test_a_publication_retracted_before_the_reader_saw_it_costs_it_nothing(
    backlog: Backlog,
) -> None:
    backlog.hold(change("published", "a", "gone soon"))
    backlog.hold(change("published", "b", "stays"))
    assert backlog.hold(change("retracted", "a"))
    assert [(kind, article) for kind, article, _, _ in sent(backlog)] == [("published", "b")]
    assert backlog.size == 0


def test_a_republication_after_a_retraction_is_not_merged(backlog: Backlog) -> None:
    backlog.hold(change("retracted", "a"))
    assert not backlog.hold(change("published", "a", "back"))
    assert [(kind, title) for kind, _, title, _ in sent(backlog)] == [
        ("retracted", None),
        ("published", "back"),
    ]


def test_changes_to_different_articles_are_all_kept_and_counted_in_bytes(
    backlog: Backlog,
) -> None:
    events = [change("updated", f"a{n}", "t") for n in range(3)]
    for event in events:
        assert not backlog.hold(event)
    assert backlog.size == sum(len(e.text) for e in events)
    assert [article for _, article, _, _ in sent(backlog)] == ["a0", "a1", "a2"]
