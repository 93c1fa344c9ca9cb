"""Reads at the HTTP floor: the page, timeline, fragment and a feed, on the origin and through
Varnish, as ratios to ``/healthz``; and a breaking-news spike through Varnish.

    python -m bench.reads --repeats 3

One feed process (and then ``LIVEFEED_FEED_WORKERS=2``) over 540 headlines, a real ``varnishd``
with deploy/varnish/default.vcl in front of it and the purger purging it; wrk (Debian's) with
50 connections for 8 s per path, every path in the same run as the floor, each request with
the ``Accept-Encoding`` a browser sends (the views' gzip copies, made once per state). The
spike: wrk at 5,000 page loads/s on ``/`` through Varnish while 2 headlines/s are posted (wrk's Lua
``delay()`` hands out send times on a fixed schedule read from the monotonic clock through
LuaJIT's FFI, so the rate is the one asked for, not one per connection's round trip); page
p99 (wrk times a request from its send, so a wait for a free connection is not in it) and
Varnish's hit ratio from that run, and freshness: POST -> the new headline in a page
Varnish serves (polled every 10 ms), p50/p99.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import harness
from bench.common import REPO_ROOT, bench_redis, free_port, log_file, stop_process, wait_port
from bench.publisher import article
from bench.stack import TOKEN, Stack

PATHS = ["/", "/v1/timeline?limit=20", "/v1/fragment", "/feed.rss"]
ACCEPT_ENCODING = "gzip, deflate, br, zstd"  # what Chromium sends
HEADLINES = 540
PACED_LUA = """
-- Open-loop pacing: each request takes the next slot of a fixed schedule (one slot every
-- WRK_INTERVAL_MS on this thread), whatever the round trip was; a schedule more than 100 ms
-- behind is not made up in a burst.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } lf_timespec;
int clock_gettime(int clk_id, lf_timespec *tp);
]]
local ts = ffi.new("lf_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval = tonumber(os.getenv("WRK_INTERVAL_MS"))
local next_at = nil
function delay()
  local now = now_ms()
  if next_at == nil or next_at < now - 100 then next_at = now end
  local wait = next_at - now
  next_at = next_at + interval
  return math.max(0, wait) -- wrk reads it as an unsigned count of ms
end
"""


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=8.0, help="wrk duration per path")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--spike-rate", type=int, default=5000, help="page loads/s in the spike")
    p.add_argument("--spike-seconds", type=float, default=20.0)
    p.add_argument("--posts-per-s", type=float, default=2.0)


def wrk(
    url: str, seconds: float, connections: int, threads: int = 1, rate: float | None = None
) -> dict[str, float]:
    """Requests/s and latency percentiles (ms) of one wrk run (at ``rate`` req/s if given)."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    # As browsers ask (every one sends Accept-Encoding): the views' gzip copies, made once.
    command = [binary, f"-t{threads}", f"-c{connections}", f"-d{round(seconds)}s", "--latency",
               "-H", f"Accept-Encoding: {ACCEPT_ENCODING}"]  # fmt: skip
    env = None
    if rate is not None:
        script = Path(tempfile.mkstemp(suffix=".lua")[1])
        script.write_text(PACED_LUA)
        command += ["-s", str(script)]
        env = {"WRK_INTERVAL_MS": f"{threads * 1000 / rate:.6f}"}
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True,
        env={**os.environ, **(env or {})},
    ).stdout  # fmt: skip
    return {
        "rps": float(_grab(r"Requests/sec:\s+([\d.]+)", out)),
        "p50_ms": _ms(_grab(r"\n\s+50%\s+(\S+)", out)),
        "p99_ms": _ms(_grab(r"\n\s+99%\s+(\S+)", out)),
        "errors": _errors(out),
    }


def _errors(out: str) -> float:
    """Socket errors and non-2xx/3xx answers wrk counted."""
    failed = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return float(failed + int(_grab(r"Non-2xx or 3xx responses: (\d+)", out, "0")))


def _grab(pattern: str, text: str, default: str | None = None) -> str:
    match = re.search(pattern, text)
    if match is None:
        if default is not None:
            return default
        raise RuntimeError(f"wrk output without {pattern!r}:\n{text}")
    return match.group(1)


def _ms(value: str) -> float:
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
    number, unit = re.match(r"([\d.]+)([a-z]+)", value).groups()  # type: ignore[union-attr]
    return float(number) * units[unit]


# The purger's and Varnish's LIVEFEED_PURGE_SECRET (deploy/varnish/default.vcl checks it).
PURGE_SECRET = "bench-purge-secret-0123456789"  # noqa: S105 - a throwaway local secret


@contextmanager
def varnish(feed_port: int) -> Iterator[tuple[str, Path]]:
    """varnishd with the repository's VCL pointed at ``feed_port``: (its URL, its -n folder)."""
    binary = shutil.which("varnishd") or "/usr/sbin/varnishd"
    if not Path(binary).exists():
        raise RuntimeError("varnishd is not installed (apt-get install varnish varnish-modules)")
    folder = Path(tempfile.mkdtemp(prefix="lfb-varnish-"))
    vcl = (REPO_ROOT / "deploy/varnish/default.vcl").read_text()
    vcl = vcl.replace('.host = "feed";', '.host = "127.0.0.1";')
    vcl = vcl.replace('.port = "8002";', f'.port = "{feed_port}";')
    (folder / "bench.vcl").write_text(vcl)
    port = free_port()
    with open(log_file("varnish"), "ab") as log:
        proc = subprocess.Popen(
            [binary, "-F", "-j", "none", "-T", "none", "-a", f"127.0.0.1:{port}",
             "-f", str(folder / "bench.vcl"), "-n", str(folder / "n"), "-s", "malloc,256m"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "LIVEFEED_PURGE_SECRET": PURGE_SECRET},
        )  # fmt: skip
    try:
        wait_port(port, proc, 30)
        yield f"http://127.0.0.1:{port}", folder / "n"
    finally:
        stop_process(proc)
        shutil.rmtree(folder, ignore_errors=True)


def varnish_counts(workdir: Path) -> tuple[int, int]:
    """(cache hits, cache misses) so far, from varnishstat."""
    out = subprocess.run(
        ["varnishstat", "-n", str(workdir), "-1", "-f", "MAIN.cache_hit", "-f", "MAIN.cache_miss"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    counts = {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line.strip()}
    return counts.get("MAIN.cache_hit", 0), counts.get("MAIN.cache_miss", 0)


def post(client: httpx.Client, ingest: str, items: list[dict[str, Any]]) -> None:
    response = client.post(
        f"{ingest}/v1/articles",
        json={"articles": items},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    response.raise_for_status()


def fill(client: httpx.Client, ingest: str, feed: str) -> None:
    """540 headlines over six days, applied before measuring."""
    start = datetime(2024, 10, 24, 18, 0, tzinfo=UTC)
    for batch in range(HEADLINES // 90):
        items = []
        for i in range(90):
            n = batch * 90 + i
            when = (start - timedelta(minutes=16 * n)).isoformat()
            items.append(article(f"reads-{n}", f"{n:04d}", when))
        post(client, ingest, items)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get(f"{feed}/v1/timeline?limit=200").json()
        if sum(len(day["items"]) for day in body["days"]) == 200 and body["next"]:
            return
        time.sleep(0.2)
    raise RuntimeError("the headlines were not applied within 60 s")


def spike(
    args: argparse.Namespace, client: httpx.Client, ingest: str, edge: str, workdir: Path
) -> dict[str, float]:
    """5,000 page loads/s through Varnish while headlines are posted."""
    hits0, misses0 = varnish_counts(workdir)
    result: dict[str, float] = {}

    def load() -> None:
        result.update(
            wrk(edge + "/", args.spike_seconds, args.connections, threads=1, rate=args.spike_rate)
        )

    loader = threading.Thread(target=load)
    loader.start()
    fresh: list[float] = []
    n = 0
    started = time.monotonic()
    while time.monotonic() - started < args.spike_seconds - 2:
        title_key = f"spike{n:04d}{int(time.time() * 1000)}"
        sent = time.monotonic()
        when = datetime.now(UTC).isoformat()
        post(client, ingest, [article(f"spike-{n}", title_key, when)])
        while title_key not in client.get(edge + "/").text:
            if time.monotonic() - sent > 10:
                raise RuntimeError(f"spike headline {n} never reached the edge")
            time.sleep(0.01)
        fresh.append(time.monotonic() - sent)
        n += 1
        time.sleep(max(0.0, sent + 1 / args.posts_per_s - time.monotonic()))
    loader.join()
    hits, misses = varnish_counts(workdir)
    fresh.sort()
    return {
        "page_rps": result["rps"],
        "page_p99_ms": result["p99_ms"],
        "page_errors": result["errors"],
        "hit_ratio": (hits - hits0) / max(1, (hits - hits0) + (misses - misses0)),
        "fresh_p50_ms": harness.spread_ms(fresh, 1.0)["p50_ms"],
        "fresh_p99_ms": harness.spread_ms(fresh, 1.0)["p99_ms"],
        "posts": float(len(fresh)),
    }


def once(args: argparse.Namespace, label: str) -> dict[str, Any]:
    """One run: every path on one feed and through Varnish, 2 feed workers, the spike."""
    row: dict[str, Any] = {}
    with bench_redis("always") as redis_server:
        purger_port = free_port()
        extra = {"LIVEFEED_PURGER_PORT": str(purger_port)}
        with Stack(redis_server.url, services=("ingest", "worker", "feed"), extra_env=extra) as st:
            feed = f"http://127.0.0.1:{st.ports['feed']}"
            with httpx.Client(timeout=10) as client:
                fill(client, st.ingest_url, feed)
            with varnish(st.ports["feed"]) as (edge, workdir):
                purger = Stack(
                    redis_server.url,
                    services=("purger",),
                    ports={**st.ports, "purger": purger_port},
                    extra_env={
                        **extra,
                        "LIVEFEED_PURGE_VARNISH": edge + "/",
                        "LIVEFEED_PURGE_SECRET": PURGE_SECRET,
                    },
                )
                with purger:
                    row["floor"] = wrk(feed + "/healthz", args.seconds, args.connections)
                    print(f"{label} floor {row['floor']['rps']:.0f}/s", flush=True)
                    for path in PATHS:
                        row[f"origin {path}"] = wrk(feed + path, args.seconds, args.connections)
                        row[f"varnish {path}"] = wrk(edge + path, args.seconds, args.connections)
                        print(
                            f"{label} {path}: origin {row[f'origin {path}']['rps']:.0f}/s, "
                            f"varnish {row[f'varnish {path}']['rps']:.0f}/s",
                            flush=True,
                        )
                    with httpx.Client(timeout=10) as client:
                        row["spike"] = spike(args, client, st.ingest_url, edge, workdir)
                    print(f"{label} spike {json.dumps(row['spike'])}", flush=True)
            # LIVEFEED_FEED_WORKERS=2 on a port of its own, the same Redis.
            two_port = free_port()
            two = Stack(
                redis_server.url,
                services=("feed",),
                ports={**st.ports, "feed": two_port},
                extra_env={"LIVEFEED_FEED_WORKERS": "2"},
            )
            with two:
                base = f"http://127.0.0.1:{two_port}"
                time.sleep(2)  # both workers up: uvicorn starts them after the port listens
                row["2 workers floor"] = wrk(base + "/healthz", args.seconds, args.connections, 2)
                for path in ("/", "/v1/timeline?limit=20"):
                    row[f"2 workers {path}"] = wrk(base + path, args.seconds, args.connections, 2)
    return row


def measure(args: argparse.Namespace) -> dict[str, Any]:
    runs = harness.repeat(args.repeats, "reads", lambda label: once(args, label))
    floor = harness.medians([r["floor"] for r in runs], ["rps", "p99_ms"])
    summary: list[dict[str, Any]] = [{"where": "origin", "path": "/healthz", **floor, "ratio": 1.0}]
    for where in ("origin", "varnish"):
        for path in PATHS:
            m = harness.medians([r[f"{where} {path}"] for r in runs], ["rps", "p99_ms", "errors"])
            ratios = [r[f"{where} {path}"]["rps"] / r["floor"]["rps"] for r in runs]
            summary.append({"where": where, "path": path, **m, "ratio": _median(ratios)})
    two_floor = harness.medians([r["2 workers floor"] for r in runs], ["rps", "p99_ms"])
    summary.append({"where": "2 feed workers", "path": "/healthz", **two_floor, "ratio": 1.0})
    for path in ("/", "/v1/timeline?limit=20"):
        m = harness.medians([r[f"2 workers {path}"] for r in runs], ["rps", "p99_ms"])
        ratios = [r[f"2 workers {path}"]["rps"] / r["2 workers floor"]["rps"] for r in runs]
        summary.append({"where": "2 feed workers", "path": path, **m, "ratio": _median(ratios)})
    spikes = harness.medians(
        [r["spike"] for r in runs],
        ["page_rps", "page_p99_ms", "page_errors", "hit_ratio", "fresh_p50_ms", "fresh_p99_ms"],
    )
    return {
        "summary": summary,
        "spike": spikes,
        "runs": runs,
        "connections": args.connections,
        "seconds": args.seconds,
        "spike_rate": args.spike_rate,
        "posts_per_s": args.posts_per_s,
        "headlines": HEADLINES,
        "repeats": args.repeats,
    }


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "reads"))
