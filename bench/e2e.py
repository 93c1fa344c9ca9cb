"""End-to-end freshness: POST to ingest -> frame at every connected client.

Real processes: the embedded Redis (``appendfsync always``, as ``livefeed up`` runs it),
``livefeed ingest``, ``livefeed worker`` and ``livefeed push``; N listening clients in separate
processes; this process posts one article every 1/rate s (an absolute schedule) with the id
``bench-<seq>-<ts_ns>``, ``ts_ns`` taken just before the request. Latency = the client's receive
time - ``ts_ns``: ingest, the RQ queue, the worker's Lua apply, the stream, the push hop.

    .venv/bin/python -m bench.e2e --n 1000 --rate 20 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from array import array
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.clients import ClientPool, ClientSpec
from bench.common import REPO_ROOT, bench_redis, percentile
from bench.procstat import CpuMeter, MachineMeter
from bench.stack import TOKEN, Stack

RESULTS = REPO_ROOT / "bench/results/e2e.json"


def article(seq: int, ts_ns: int, prefix: str = "bench") -> dict[str, Any]:
    """One ~300 B article whose id carries its send time (clients count ``bench-`` ids only)."""
    return {
        "id": f"{prefix}-{seq:06d}-{ts_ns}",
        "title": f"Headline {seq:06d}: negotiators meet again",
        "url": f"https://example.org/a/{seq:06d}",
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "section": "world",
        "labels": ["exclusive"],
        "summary": "Talks resume next week, officials said.",
    }


def post_schedule(
    base: str, count: int, rate: float, prefix: str = "bench"
) -> tuple[list[float], int]:
    """POST *count* articles at *rate* per second; (per-request seconds, non-202 answers)."""
    took: list[float] = []
    failures = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        start = time.perf_counter()
        for seq in range(count):
            delay = start + seq / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            response = client.post("/v1/articles", json=article(seq, time.time_ns(), prefix))
            took.append(time.perf_counter() - t0)
            failures += response.status_code != 202
    return took, failures


def run_once(n: int, rate: float, seconds: float, label: str) -> dict[str, Any]:
    """One run; returns a result row."""
    count = int(rate * seconds)
    with bench_redis("always") as srv, Stack(srv.url) as stack:
        pool = ClientPool(ClientSpec(stack.push_url, protocol="raw"), n, 2)
        pool.start()
        try:
            if not pool.wait_connected(timeout_s=60):
                raise RuntimeError(f"only {pool.connected()}/{n} clients connected")
            # Warm-up: the first requests pay for imports, script loading, connection pools.
            post_schedule(stack.ingest_url, 5, 10, prefix="warmup")
            time.sleep(0.5)
            pids = {name: stack.pid(name) for name in ("ingest", "worker", "push")}
            meters = {name: CpuMeter([pid]) for name, pid in pids.items()}
            machine = MachineMeter()
            machine.start()
            for meter in meters.values():
                meter.start()
            print(f"{label} posting {count} articles at {rate:g}/s to {n} clients", flush=True)
            took, failures = post_schedule(stack.ingest_url, count, rate)
            cpu = {name: meter.stop() for name, meter in meters.items()}
            busy = machine.stop()
            pool.wait_received(n * count, timeout_s=10)
            results = pool.stop_and_collect()
        finally:
            pool.terminate()
    lat = sorted(x for r in results for x in array("q", r.latencies_ns))
    took.sort()
    row = {
        "n": n,
        "rate": rate,
        "articles": count,
        "connected": sum(r.connected for r in results),
        "post_failures": failures,
        "p50_ms": percentile(lat, 0.5) / 1e6,
        "p99_ms": percentile(lat, 0.99) / 1e6,
        "max_ms": lat[-1] / 1e6 if lat else float("nan"),
        "lost": n * count - len(lat),
        "duplicates": sum(r.duplicates for r in results),
        "post_p50_ms": percentile(took, 0.5) * 1000,
        "post_p99_ms": percentile(took, 0.99) * 1000,
        **{f"{name}_cpu_pct": value for name, value in cpu.items()},
        "other_cpu_pct": max(0.0, busy - sum(cpu.values())),
    }
    print(
        f"{label} POST->client p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms "
        f"max {row['max_ms']:.1f} ms lost {row['lost']}; POST p99 {row['post_p99_ms']:.1f} ms; "
        f"CPU ingest {cpu['ingest']:.0f}% worker {cpu['worker']:.0f}% push {cpu['push']:.0f}% "
        f"other {row['other_cpu_pct']:.0f}%",
        flush=True,
    )
    return row


def run(n: int, rate: float, seconds: float, repeats: int) -> dict[str, Any]:
    """*repeats* runs; medians in ``summary``."""
    rows = [run_once(n, rate, seconds, f"[e2e N={n} {i + 1}/{repeats}]") for i in range(repeats)]
    summary: dict[str, Any] = {"n": n, "rate": rate, "seconds": seconds, "repeats": repeats}
    for key in rows[0]:
        if key not in summary and isinstance(rows[0][key], int | float):
            summary[key] = statistics.median(r[key] for r in rows)
    summary["max_lost"] = max(r["lost"] for r in rows)
    return {"summary": summary, "runs": rows}


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    result = run(args.n, args.rate, args.seconds, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
