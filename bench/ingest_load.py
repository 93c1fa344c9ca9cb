"""Ingest throughput: accepted articles/s over HTTP with C concurrent posters, p50/p99 latency.

The driver starts the embedded Redis (``appendfsync always``, as ``livefeed up`` runs it) and
``livefeed ingest`` alone (no worker: this measures accepting, not applying), with
``LIVEFEED_LOG_LEVEL=WARNING`` (at INFO ingest writes one log line per request) and
``LIVEFEED_INGEST_WORKERS`` processes (1, and 2 for this 2-core machine: ``--workers 1 2``
alternates them run by run, so both meet the same machine). The load runs in a separate
process: C keep-alive HTTP/1.1 connections on one uvloop loop, each posting as fast as answers
come back (a tiny raw client: httpx's own cost would cap the figure first).

    .venv/bin/python -m bench.ingest_load --batch 1 --seconds 10      # single articles
    .venv/bin/python -m bench.ingest_load --batch 100 --seconds 10    # batches of 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.common import REPO_ROOT, bench_redis, install_loop, percentile
from bench.procstat import CpuMeter, MachineMeter, tree_pids
from bench.stack import TOKEN, Stack

RESULTS = REPO_ROOT / "bench/results/ingest.json"


def _body(worker: int, seq: int, batch: int, published: str) -> bytes:
    items = [
        {
            "id": f"load-{worker}-{seq}-{i}",
            "title": f"Headline {seq}/{i}: negotiators meet again",
            "url": f"https://example.org/a/{worker}/{seq}/{i}",
            "published_at": published,
            "section": "world",
            "labels": ["exclusive"],
            "summary": "Talks resume next week, officials said.",
        }
        for i in range(batch)
    ]
    return orjson.dumps(items[0] if batch == 1 else {"articles": items})


async def _poster(
    worker: int, host: str, port: int, batch: int, until: float, measure_from: float
) -> tuple[list[float], int, int]:
    """One keep-alive connection posting back to back; (latencies s, 202s, other answers)."""
    reader, writer = await asyncio.open_connection(host, port)
    published = datetime.now(UTC).isoformat(timespec="seconds")
    head = (
        f"POST /v1/articles HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
    )
    latencies: list[float] = []
    accepted = other = seq = 0
    while True:
        now = time.perf_counter()
        if now >= until:
            break
        body = _body(worker, seq, batch, published)
        seq += 1
        writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        t0 = time.perf_counter()
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        took = time.perf_counter() - t0
        if t0 >= measure_from:
            latencies.append(took)
            if status_line.split(b" ", 2)[1] == b"202":
                accepted += 1
            else:
                other += 1
    writer.close()
    return latencies, accepted, other


async def _load(
    host: str, port: int, concurrency: int, batch: int, seconds: float
) -> dict[str, Any]:
    warmup = 1.0
    start = time.perf_counter()
    measure_from, until = start + warmup, start + warmup + seconds
    parts = await asyncio.gather(
        *(_poster(w, host, port, batch, until, measure_from) for w in range(concurrency))
    )
    latencies = sorted(x for p in parts for x in p[0])
    accepted = sum(p[1] for p in parts)
    return {
        "requests": len(latencies),
        "accepted_requests": accepted,
        "other_answers": sum(p[2] for p in parts),
        "requests_per_s": accepted / seconds,
        "articles_per_s": accepted * batch / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else float("nan"),
    }


def run_once(
    batch: int, concurrency: int, seconds: float, label: str, workers: int = 1
) -> dict[str, Any]:
    """Start Redis + ingest (``workers`` processes), run the load process, return a row."""
    env = {"LIVEFEED_INGEST_WORKERS": str(workers)}
    with (
        bench_redis("always") as srv,
        Stack(srv.url, services=("ingest",), extra_env=env) as stack,
    ):
        machine = MachineMeter()
        print(
            f"{label} {concurrency} posters, {batch} article(s) per POST, {workers} ingest "
            f"process(es), {seconds:g} s",
            flush=True,
        )
        load = subprocess.Popen(
            [sys.executable, "-m", "bench.ingest_load", "--as-load", "--port",
             str(stack.ports["ingest"]), "--batch", str(batch), "--concurrency",
             str(concurrency), "--seconds", str(seconds)],
            cwd=REPO_ROOT, stdout=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(1.0)  # the load's warm-up second
        # `livefeed ingest` and, with several workers, its worker processes
        ingest_cpu = CpuMeter(tree_pids(stack.pid("ingest")))
        ingest_cpu.start()
        machine.start()
        out, _ = load.communicate(timeout=seconds + 60)
        cpu = ingest_cpu.stop()
        busy = machine.stop()
    row: dict[str, Any] = json.loads(out)
    row.update(
        batch=batch,
        workers=workers,
        concurrency=concurrency,
        ingest_cpu_pct=cpu,
        other_cpu_pct=max(0.0, busy - cpu),
    )
    print(
        f"{label} {row['articles_per_s']:.0f} articles/s ({row['requests_per_s']:.0f} req/s), "
        f"p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms, non-202 {row['other_answers']}, "
        f"ingest CPU {cpu:.0f}%, rest of machine {row['other_cpu_pct']:.0f}%",
        flush=True,
    )
    return row


def _summary(rows: list[dict[str, Any]], batch: int, concurrency: int) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "batch": batch,
        "workers": rows[0]["workers"],
        "concurrency": concurrency,
        "repeats": len(rows),
    }
    for key in ("articles_per_s", "requests_per_s", "p50_ms", "p99_ms", "max_ms",
                "other_answers", "ingest_cpu_pct", "other_cpu_pct"):  # fmt: skip
        summary[key] = statistics.median(r[key] for r in rows)
    return summary


def run(
    batch: int, concurrency: int, seconds: float, repeats: int, workers: int = 1
) -> dict[str, Any]:
    """*repeats* runs with ``workers`` ingest processes; medians in ``summary``."""
    return compare(batch, concurrency, seconds, repeats, (workers,))[workers]


def compare(
    batch: int, concurrency: int, seconds: float, repeats: int, workers: tuple[int, ...]
) -> dict[int, dict[str, Any]]:
    """*repeats* rounds, each running every ``workers`` count once (alternating, so that a
    busier moment of the shared machine does not fall on one count only); medians per count."""
    rows: dict[int, list[dict[str, Any]]] = {w: [] for w in workers}
    for i in range(repeats):
        for w in workers:
            label = f"[ingest batch={batch} workers={w} {i + 1}/{repeats}]"
            rows[w].append(run_once(batch, concurrency, seconds, label, w))
    return {w: {"summary": _summary(r, batch, concurrency), "runs": r} for w, r in rows.items()}


def main(argv: list[str] | None = None) -> int:
    """Command line: the driver, or (``--as-load``) the load process itself."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workers", type=int, nargs="+", default=[1], help="ingest processes")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--as-load", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.as_load:
        install_loop("uvloop")
        result = asyncio.run(
            _load("127.0.0.1", args.port, args.concurrency, args.batch, args.seconds)
        )
        print(json.dumps(result))
        return 0
    results = compare(args.batch, args.concurrency, args.seconds, args.repeats, tuple(args.workers))
    result = (
        results[args.workers[0]] if len(results) == 1 else {str(w): r for w, r in results.items()}
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for r in results.values():
        print(json.dumps(r["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
