"""The cyclic garbage collector's settings for livefeed's long-running, latency-bound servers.

Python's defaults (700, 10, 10) run a full collection every few seconds under load, and a full
collection walks every live object: thousands of connections in a push process, every cached
view and its structures in a feed process. Measured on the 2-core bench machine:

- push, 5,000 readers at 10 headlines/s: p99 270-300 ms with the defaults, 116 ms with these
  (104 ms with the collector off; the bare floor ~110 ms);
- feed, views served from memory under 50 connections: p99 48 ms with the defaults, 7-9 ms with
  these (and ~40 % more requests per second).

Garbage in reference cycles lives a little longer: at most one young generation of 20,000
objects. What was allocated while starting (modules, settings, compiled templates) is frozen
out of every later collection.
"""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 50, 50)


def tune_gc() -> None:
    """Collect less often, and never walk what start-up allocated again."""
    gc.set_threshold(*THRESHOLDS)
    gc.freeze()
