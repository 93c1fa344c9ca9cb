"""GRIP tests: a real Pushpin (Debian's ``pushpin``, tests/pushpin.py) in front of an origin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.grip.gripstack import GripStack
from tests.pushpin import Pushpin

PushpinFactory = Callable[..., Pushpin]


@pytest.fixture
def pushpin_for(tmp_path: Path) -> Iterator[PushpinFactory]:
    """``pushpin_for(origin_port, sig_key=None)``: a started Pushpin in front of
    ``http://127.0.0.1:<origin_port>`` on free ports of its own, stopped after the test.
    Module-wide fixtures use ``Pushpin(tmp_path, origin_port, sig_key).start()`` the same way."""
    started: list[Pushpin] = []

    def start(origin_port: int, sig_key: str | None = None) -> Pushpin:
        pushpin = Pushpin(tmp_path, origin_port, sig_key=sig_key)
        started.append(pushpin)
        return pushpin.start()

    yield start
    for pushpin in started:
        pushpin.stop()


@pytest.fixture(scope="module")
def grip() -> Iterator[GripStack]:
    """A livefeed stack with LIVEFEED_GRIP on behind a real Pushpin (signing with
    ``gripstack.KEY``) and its grip-publisher, for one module's tests."""
    running = GripStack.start()
    yield running
    running.stop()
