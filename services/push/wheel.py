"""One timer for every connection of a push process: a hashed timer wheel.

Each connection has one deadline at a time (its handshake timeout, its next ping or SSE
keep-alive, the end of its closing grace) and sits in the slot of that deadline. One loop
callback turns the wheel every ``tick`` seconds and visits only the slots that came due, so
50,000 connections cost 50,000 set entries and one timer, not 50,000 timers or tasks. A slot
may hold connections due a whole turn later (the wheel is shorter than the longest delay):
those are left for their round.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Protocol

log = logging.getLogger(__name__)


class Timed(Protocol):
    """What the wheel keeps: a deadline, the slot it sits in, and what to do when it is due."""

    due: float
    slot: int

    def expired(self, now: float) -> None:
        """The deadline passed: act, then ``schedule`` again or ``cancel``."""


class TimerWheel:
    """Deadlines at ``tick`` resolution (a deadline fires up to one tick late, never early)."""

    def __init__(self, tick: float, span: float) -> None:
        self.tick = tick
        self.slots: list[set[Timed]] = [set() for _ in range(max(8, math.ceil(span / tick) + 1))]
        self.count = 0
        self._turned = -1  # the last tick whose slot was visited
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._turned = self._tick_of(self._loop.time()) - 1
        self._handle = self._loop.call_later(self.tick, self._turn)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick_of(self, when: float) -> int:
        return int(when / self.tick)

    def schedule(self, item: Timed, delay: float) -> None:
        """Give ``item`` (new or already kept) the deadline now + ``delay``."""
        assert self._loop is not None, "start() the wheel first"
        due = self._loop.time() + delay
        slot = self._tick_of(due) % len(self.slots)
        if item.slot >= 0:
            if item.slot == slot:
                item.due = due
                return
            self.slots[item.slot].discard(item)
            self.count -= 1
        item.due = due
        item.slot = slot
        self.slots[slot].add(item)
        self.count += 1

    def cancel(self, item: Timed) -> None:
        """Forget ``item`` (it has no deadline any more)."""
        if item.slot >= 0:
            self.slots[item.slot].discard(item)
            item.slot = -1
            self.count -= 1

    def items(self) -> list[Timed]:
        """Everything on the wheel."""
        return [item for slot in self.slots for item in slot]

    def _turn(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        current = self._tick_of(now)
        # Every tick that has wholly passed since the last turn (a busy loop may have skipped
        # some), each slot at most once; the current tick's deadlines may still be ahead.
        first = max(self._turned + 1, current - len(self.slots))
        for tick in range(first, current):
            slot = self.slots[tick % len(self.slots)]
            for item in [i for i in slot if i.due <= now]:
                if item.slot < 0 or item.due > now:  # rescheduled by an earlier item's action
                    continue
                slot.discard(item)
                item.slot = -1
                self.count -= 1
                try:
                    item.expired(now)
                except Exception:  # one connection's bug must not stop every other's timers
                    log.exception("a connection timer failed")
        self._turned = current - 1
        self._handle = self._loop.call_at((current + 1) * self.tick, self._turn)
