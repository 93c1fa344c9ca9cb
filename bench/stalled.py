"""One client that stops reading among 1,000 that read: do the others notice?

The fan-out run (bench/fanout.py: livefeed push, N listening clients in separate processes, one
headline per 100 ms XADDed to ``lf:events``) with a ~2 KiB summary in every headline, once per
scenario: 0, 1 and 10 *stalled readers* open ``/v1/stream`` before publishing starts: raw sockets
with a 4 KiB receive buffer that complete the WebSocket handshake and never read again (a frozen
tab). Per run: the N readers' latency and losses, push RSS before and after, and from push's
``/metrics`` (scraped every 200 ms, in every scenario alike) when each stalled reader was cut off
(1008). Scenarios are interleaved within each repeat; the table gives medians.

    .venv/bin/python -m bench.stalled --n 1000 --stalled 0,1,10 --repeats 3
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis

from bench import fanout, harness
from bench.common import bench_redis
from bench.publisher import EventWriter, Headline, make_headline
from bench.variants import LIVEFEED, LaunchContext

FIELDS = (
    *fanout.MEDIAN_FIELDS,
    *("rss_connected_mib", "rss_after_mib", "cut_off", "cut_off_s", "max_behind", "coalesced"),
)
METRIC_RE = re.compile(r'^(livefeed_push_\w+)(?:\{transport="ws"\})? (\S+)$', re.M)
SCRAPE_S = 0.2


def stalled_reader(url: str) -> socket.socket:
    """Open the stream at *url* (``ws://host:port/path``) like a tab that then freezes.

    The 4 KiB receive buffer is set before connecting, so the TCP window stays small and the
    kernel cannot hide the backlog: frames pile up on the server's side.
    """
    parts = urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        "".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # byte by byte: leave every frame unread
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError("closed during the handshake")
        head += byte
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head[:60]!r}")
    return sock


def scrape(http: httpx.Client, url: str) -> dict[str, float]:
    """push's /metrics as {name: value} (livefeed_push_* samples, WebSocket readers')."""
    return {name: float(value) for name, value in METRIC_RE.findall(http.get(url).text)}


@contextmanager
def stalled_probe(count: int, ctx: LaunchContext) -> Iterator[dict[str, Any]]:
    """Connect *count* stalled readers and watch push's /metrics until the probe is left.

    Yields the figures (filled in on leaving): ``cut_off`` (stalled readers push closed as
    too slow), ``cut_off_s`` (seconds from connecting them to the last of those closes: NaN
    if none was), ``max_behind`` (most clients with frames held at once), ``coalesced``,
    ``scrape_errors``.
    """
    figures: dict[str, Any] = {"stalled": count}
    metrics_url = f"http://{ctx.host}:{ctx.port}/metrics"
    sockets = [stalled_reader(LIVEFEED.url(ctx)) for _ in range(count)]
    started = time.monotonic()
    stop = threading.Event()
    closes: list[float] = []
    last: dict[str, float] = {}
    max_behind = 0.0
    errors = 0

    def watch() -> None:
        nonlocal last, max_behind, errors
        with httpx.Client(timeout=5) as http:
            while not stop.wait(SCRAPE_S):
                try:
                    last = scrape(http, metrics_url)
                except httpx.HTTPError:
                    errors += 1  # a missed sample; the counters are cumulative
                    continue
                max_behind = max(max_behind, last["livefeed_push_clients_behind"])
                closed = int(last["livefeed_push_slow_clients_closed_total"])
                closes.extend([time.monotonic() - started] * (closed - len(closes)))

    watcher = threading.Thread(target=watch, name="metrics-watch", daemon=True)
    watcher.start()
    try:
        yield figures
    finally:
        stop.set()
        watcher.join(10)
        for sock in sockets:
            sock.close()
    if not last:
        raise RuntimeError(f"no scrape of {metrics_url} succeeded")
    figures.update(
        cut_off=len(closes),
        cut_off_s=closes[-1] if closes else float("nan"),
        max_behind=max_behind,
        coalesced=last["livefeed_push_frames_coalesced_total"],
        scrape_errors=errors,
    )


def with_summary(headline: Headline, summary: str) -> Headline:
    """*headline* with another summary (its id stays first, where the clients look for it)."""
    return replace(headline, body={**headline.body, "summary": summary})


def padded(writer: EventWriter, summary: str) -> EventWriter:
    """*writer*, with *summary* in every headline."""

    def write(client: redis.Redis, stream: str, headline: Headline) -> None:
        writer(client, stream, with_summary(headline, summary))

    return write


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of the stalled-reader step."""
    p.add_argument("--n", type=int, default=1000, help="listening clients")
    p.add_argument("--stalled", default="0,1,10", help="comma list of stalled reader counts")
    p.add_argument("--events", type=int, default=200, help="headlines per run, one per 100 ms")
    p.add_argument("--summary-bytes", type=int, default=2048, help="summary size per headline")
    p.add_argument(
        "--buffer-bytes",
        type=int,
        default=64 * 1024,
        help="LIVEFEED_CLIENT_BUFFER_BYTES for push (small enough to overrun within the run)",
    )


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every (repeat, stalled count) run; the JSON that results/stalled.json holds."""
    n, counts = args.n, [int(c) for c in args.stalled.split(",") if c.strip()]
    summary_text = ("About two kilobytes of summary. " * (args.summary_bytes // 32 + 1))[
        : args.summary_bytes
    ]
    variant = replace(
        LIVEFEED,
        protocol="raw",  # the least client CPU per frame: the push process is what is measured
        write_event=padded(LIVEFEED.write_event, summary_text),
        env=lambda ctx: {
            **LIVEFEED.env(ctx),
            "LIVEFEED_CLIENT_BUFFER_BYTES": str(args.buffer_bytes),
        },
    )
    fan = harness.parse(fanout, "fanout", ["--n", str(n), "--events", str(args.events)])
    rows: dict[int, list[dict[str, Any]]] = {c: [] for c in counts}
    with bench_redis("no") as redis_srv:
        for rep in range(args.repeats):
            for count in counts:  # interleaved: a noisy stretch hits every scenario alike
                label = f"[stalled {count} among N={n} {rep + 1}/{args.repeats}]"
                probe = partial(stalled_probe, count)
                row = fanout.run_once(variant, n, redis_srv.url, fan, label, probe)
                print(f"{label} {describe(row)}", flush=True)
                rows[count].append(row)
    summary = []
    for count, runs in rows.items():
        s = fanout.summarize(runs, FIELDS)
        s.update(stalled=count, max_lost=max(r["lost"] for r in runs))
        s["all_cut_off"] = all(r["cut_off"] == count for r in runs)
        summary.append(s)
    base = next((s for s in summary if s["stalled"] == 0), None)
    for s in summary:
        s["p99_ratio"] = s["p99_ms"] / base["p99_ms"] if base else float("nan")
        print(f"{s['stalled']} stalled (medians): {describe(s)}  p99/none {s['p99_ratio']:.2f}")
    return {
        "n": n,
        "events": args.events,
        "interval_ms": fan.interval * 1000,
        "summary_bytes": args.summary_bytes,
        "headline_bytes": len(with_summary(make_headline(0, time.time_ns()), summary_text).json()),
        "buffer_bytes": args.buffer_bytes,
        "summary": summary,
        "runs": [r for runs in rows.values() for r in runs],
    }


def describe(row: dict[str, Any]) -> str:
    """One line for a run or a summary: latency, losses, cut-offs, RSS, noise."""
    return (
        f"p50 {row['p50_ms']:.1f} ms  p99 {row['p99_ms']:.1f} ms  max {row['max_ms']:.1f} ms  "
        f"lost {row['lost']:.0f}  cut off {row['cut_off']:.0f} after {row['cut_off_s']:.1f} s  "
        f"RSS {row['rss_connected_mib']:.1f} -> {row['rss_after_mib']:.1f} MiB  "
        f"other CPU {row['other_cpu_pct']:.0f}%"
    )


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "stalled"))
