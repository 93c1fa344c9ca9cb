"""WebSocket fan-out benchmark harness for livefeed.

Run from the repo root: ``python -m bench.fanout``.
"""
