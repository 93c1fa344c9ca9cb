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
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bench import harness
from bench.clients import ClientPool, ClientSpec, latencies_ns
from bench.common import bench_redis
from bench.procstat import CpuMeters
from bench.publisher import article
from bench.stack import TOKEN, Stack


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
            now = datetime.now(UTC).isoformat(timespec="seconds")
            body = article(f"{prefix}-{seq:06d}-{time.time_ns()}", f"{seq:06d}", now)
            response = client.post("/v1/articles", json=body)
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
            names = ("ingest", "worker", "push")
            cpu = CpuMeters(**{name: [stack.pid(name)] for name in names})
            cpu.start()
            print(f"{label} posting {count} articles at {rate:g}/s to {n} clients", flush=True)
            took, failures = post_schedule(stack.ingest_url, count, rate)
            cpu_pct = cpu.stop()
            pool.wait_received(n * count, timeout_s=10)
            results = pool.stop_and_collect()
        finally:
            pool.terminate()
    lat = latencies_ns(results)
    post = harness.spread_ms(sorted(took), 1.0)
    row = {
        "n": n,
        "rate": rate,
        "articles": count,
        "connected": sum(r.connected for r in results),
        "post_failures": failures,
        **harness.spread_ms(lat, 1e-9),
        "lost": n * count - len(lat),
        "duplicates": sum(r.duplicates for r in results),
        "post_p50_ms": post["p50_ms"],
        "post_p99_ms": post["p99_ms"],
        **{f"{name}_cpu_pct": value for name, value in cpu_pct.items()},
    }
    print(
        f"{label} POST->client p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms "
        f"max {row['max_ms']:.1f} ms lost {row['lost']}; POST p99 {row['post_p99_ms']:.1f} ms; "
        f"CPU ingest {cpu_pct['ingest']:.0f}% worker {cpu_pct['worker']:.0f}% "
        f"push {cpu_pct['push']:.0f}% other {cpu_pct['other']:.0f}%",
        flush=True,
    )
    return row


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of the end-to-end step."""
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--seconds", type=float, default=30.0)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """``--repeats`` runs; medians in ``summary``."""
    n, rate, seconds, repeats = args.n, args.rate, args.seconds, args.repeats
    rows = harness.repeat(repeats, f"e2e N={n}", lambda label: run_once(n, rate, seconds, label))
    summary: dict[str, Any] = {"n": n, "rate": rate, "seconds": seconds, "repeats": repeats}
    numeric = [k for k, v in rows[0].items() if k not in summary and isinstance(v, int | float)]
    summary |= harness.medians(rows, numeric)
    summary["max_lost"] = max(r["lost"] for r in rows)
    return {"summary": summary, "runs": rows}


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "e2e"))
