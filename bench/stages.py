"""Where a headline's time goes: POST -> frame at 2,000 readers, stage by stage, against the floor.

Each round runs, on one embedded Redis and the same client processes' code:

1. **the floor**: a bare ``websockets`` broadcast server (``bench/floor_server.py``) with N raw
   clients; one headline at a time is written straight into a Redis stream (XADD -> frame);
2. **livefeed** as ``livefeed up`` runs it (ingest, worker, push; Redis with
   ``appendfsync always``) with N raw clients; one headline at a time is POSTed to ingest
   (POST -> frame: the id carries the time taken just before the request).

For livefeed the per-stage histograms every process keeps (``livefeed_stage_seconds{stage}``,
``shared.metrics.STAGES``) are scraped before and after the posts; the difference gives each
stage's p50 and p99 (linear within a bucket) for exactly these headlines. ``deliver`` is what
is left of the POST -> frame median once the stages before the fan-out are taken off: from the
fan-out's start to the median reader having the frame (the part of the write loop before that
reader, the kernel, the client's read: the floor's whole job, roughly). ``fanout`` is the whole
write loop, to the last reader.

    .venv/bin/python -m bench.stages --n 2000 --events 30 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import harness
from bench.clients import ClientPool, ClientSpec
from bench.common import bench_redis
from bench.e2e import post_schedule
from bench.fanout import delivery_metrics, run_once
from bench.stack import Stack
from bench.variants import VARIANTS
from shared.metrics import STAGES

Buckets = dict[str, list[tuple[float, float]]]  # stage -> [(upper bound, cumulative count)]


def stage_buckets(base: str) -> Buckets:
    """The cumulative buckets of ``livefeed_stage_seconds`` at ``base/metrics``."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    out: Buckets = {}
    for family in text_string_to_metric_families(text):
        if family.name != "livefeed_stage_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                out.setdefault(sample.labels["stage"], []).append((bound, sample.value))
    return {stage: sorted(rows) for stage, rows in out.items()}


def quantile(
    before: list[tuple[float, float]], after: list[tuple[float, float]], q: float
) -> float:
    """The ``q`` quantile (seconds) of what was observed between two scrapes of one histogram."""
    was = dict(before)
    rows = [(bound, count - was.get(bound, 0.0)) for bound, count in after]
    total = rows[-1][1] if rows else 0.0
    if total <= 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cumulative in rows:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower


def breakdown(before: Buckets, after: Buckets) -> dict[str, dict[str, float]]:
    """Each stage's count, p50 and p99 (ms) between two scrapes."""
    out: dict[str, dict[str, float]] = {}
    for stage in STAGES:
        if stage not in after:
            continue
        prior = before.get(stage, [])
        count = after[stage][-1][1] - (prior[-1][1] if prior else 0.0)
        out[stage] = {
            "count": count,
            "p50_ms": quantile(prior, after[stage], 0.50) * 1000,
            "p99_ms": quantile(prior, after[stage], 0.99) * 1000,
        }
    return out


def scrape_all(stack: Stack) -> Buckets:
    """The stage histograms of ingest, the worker and push, together (each stage has one home)."""
    merged: Buckets = {}
    for service in ("ingest", "worker", "push"):
        merged |= stage_buckets(f"http://127.0.0.1:{stack.ports[service]}")
    return merged


def livefeed_once(n: int, events: int, interval: float, label: str) -> dict[str, Any]:
    """POST one headline at a time to livefeed with ``n`` readers; latency and stages."""
    with bench_redis("always") as srv, Stack(srv.url) as stack:
        pool = ClientPool(ClientSpec(stack.push_url, protocol="raw"), n, 2)
        pool.start()
        try:
            if not pool.wait_connected(timeout_s=60):
                raise RuntimeError(f"only {pool.connected()}/{n} clients connected")
            post_schedule(stack.ingest_url, 5, 1 / interval, prefix="warmup")
            time.sleep(1.0)
            received0 = pool.received()
            before = scrape_all(stack)
            print(f"{label} livefeed: POSTing {events} headlines, one every {interval:g} s")
            _took, failures = post_schedule(stack.ingest_url, events, 1 / interval)
            pool.wait_received(received0 + n * events, timeout_s=10)
            time.sleep(0.5)
            after = scrape_all(stack)
            results = pool.stop_and_collect()
        finally:
            pool.terminate()
    # The warm-up's frames were counted too: delivery_metrics only reads the measured ids.
    row: dict[str, Any] = {"n": n, "events": events, "post_failures": failures}
    row |= delivery_metrics(results, events, n)
    row["expected"] = n * events
    row["stages"] = breakdown(before, after)
    return row


def deliver_residual(p50_ms: float, stages: dict[str, dict[str, float]]) -> float:
    """POST -> frame's median less the medians of the stages before the fan-out (``queue``
    holds the enqueue's round trip, which is counted once): from the fan-out's start to the
    median reader having the frame."""
    before = sum(s["p50_ms"] for name, s in stages.items() if name not in ("enqueue", "fanout"))
    return max(0.0, p50_ms - before)


def floor_once(n: int, events: int, interval: float, label: str) -> dict[str, Any]:
    """The bare broadcast with ``n`` readers, one headline at a time (XADD -> frame)."""
    args = argparse.Namespace(
        events=events, interval=interval, warmup=5, procs=2, drain=10.0, raw_clients=True
    )
    with bench_redis("no") as srv:
        return run_once(VARIANTS["floor"], n, srv.url, args, f"{label} floor")


def round_once(n: int, events: int, interval: float, label: str) -> dict[str, Any]:
    """The floor, then livefeed; the ratio of their p99s within this round."""
    floor = floor_once(n, events, interval, label)
    live = livefeed_once(n, events, interval, label)
    ratio = live["p99_ms"] / floor["p99_ms"] if floor["p99_ms"] else float("nan")
    print(
        f"{label} POST->frame p50 {live['p50_ms']:.1f} p99 {live['p99_ms']:.1f} ms, lost "
        f"{live['lost']}; floor p50 {floor['p50_ms']:.1f} p99 {floor['p99_ms']:.1f} ms: "
        f"{ratio:.2f}x",
        flush=True,
    )
    for stage, s in live["stages"].items():
        print(f"{label}   {stage:<8} p50 {s['p50_ms']:6.2f} ms  p99 {s['p99_ms']:6.2f} ms")
    print(f"{label}   deliver  p50 {deliver_residual(live['p50_ms'], live['stages']):6.2f} ms")
    return {
        "n": n,
        "p50_ms": live["p50_ms"],
        "p99_ms": live["p99_ms"],
        "lost": live["lost"],
        "duplicates": live["duplicates"],
        "post_failures": live["post_failures"],
        "floor_p50_ms": floor["p50_ms"],
        "floor_p99_ms": floor["p99_ms"],
        "floor_lost": floor["lost"],
        "ratio_p99": ratio,
        "stages": live["stages"],
    }


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of the stages step."""
    p.add_argument("--n", type=int, default=2000, help="connected readers")
    p.add_argument("--events", type=int, default=30, help="headlines per round")
    p.add_argument("--interval", type=float, default=0.25, help="seconds between headlines")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """``--repeats`` rounds; medians (the stages' too) in ``summary``."""
    n, events, interval = args.n, args.events, args.interval
    rows = harness.repeat(
        args.repeats, f"stages N={n}", lambda label: round_once(n, events, interval, label)
    )
    numeric = [k for k, v in rows[0].items() if isinstance(v, int | float) and k != "n"]
    summary: dict[str, Any] = {"n": n, "events": events, "repeats": args.repeats}
    summary |= harness.medians(rows, numeric)
    summary["max_lost"] = max(r["lost"] for r in rows)
    summary["stages"] = {
        stage: {
            q: statistics.median(r["stages"][stage][q] for r in rows) for q in ("p50_ms", "p99_ms")
        }
        for stage in rows[0]["stages"]
    }
    deliver = deliver_residual(summary["p50_ms"], summary["stages"])
    summary["stages"]["deliver"] = {"p50_ms": deliver, "p99_ms": float("nan")}
    return {"summary": summary, "runs": rows}


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "stages"))
