"""At least once across a failover: the same change of an article, again under a newer event id
(a job re-applied on the new primary), is shown once by ``livefeed tail``."""

from __future__ import annotations

import argparse
import io

from services.commands.tail import Tail


def _tail() -> tuple[Tail, io.StringIO]:
    out = io.StringIO()
    args = argparse.Namespace(section=None, label=None, since=None, json=True)
    return Tail("ws://127.0.0.1:1", args, out, io.StringIO()), out


def _event(event_id: str, kind: str, version: int | None, title: str = "T") -> dict[str, object]:
    headline = {"id": "a-1", "title": title, "version": version, "updated_at": None}
    return {"type": kind, "event_id": event_id, "headline": headline}


def test_tail_prints_a_repeated_change_once_and_a_new_one_again() -> None:
    tail, out = _tail()
    tail.handle({"type": "hello", "event_id": "100-0"})
    tail.handle(_event("101-0", "published", 1))
    tail.handle(_event("150-0", "published", 1))  # the same change, re-applied after a failover
    tail.handle(_event("151-0", "updated", 2, "T2"))  # a new change: printed
    tail.handle(_event("151-0", "updated", 2, "T2"))  # the same event id: never twice either
    lines = out.getvalue().splitlines()
    assert [line.count('"event_id"') for line in lines] == [1, 1]
    assert '"101-0"' in lines[0]
    assert '"151-0"' in lines[1]


def test_after_a_reset_the_same_change_prints_again() -> None:
    tail, out = _tail()
    tail.handle({"type": "hello", "event_id": "100-0"})
    tail.handle(_event("101-0", "published", 1))
    tail.handle({"type": "reset"})  # what was printed may be gone with the old primary
    tail.handle(_event("150-0", "published", 1))
    assert len(out.getvalue().splitlines()) == 2
