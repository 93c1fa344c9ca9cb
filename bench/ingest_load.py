"""Ingest throughput: accepted articles/s over HTTP with C concurrent posters, p50/p99 latency.

The driver starts the embedded Redis (``appendfsync always``, as ``livefeed up`` runs it) and
``livefeed ingest`` alone (no worker: this measures accepting, not applying), with
``LIVEFEED_LOG_LEVEL=WARNING`` (at INFO ingest writes one log line per request) and
``LIVEFEED_INGEST_WORKERS`` processes (1, and 2 for this 2-core machine: ``--workers 1 2``
alternates them run by run, so both meet the same machine). The load runs in a separate
process: C keep-alive HTTP/1.1 connections on one uvloop loop, each posting as fast as answers
come back (a tiny raw client: httpx's own cost would cap the figure first).

    .venv/bin/python -m bench.ingest_load --seconds 10       # single and batches of 100, 1 and 2
    .venv/bin/python -m bench.ingest_load --batch 1 --workers 1 --seconds 5 --repeats 1
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from bench import harness
from bench.common import bench_redis, install_loop
from bench.procstat import CpuMeters, tree_pids
from bench.publisher import article
from bench.stack import TOKEN, Stack


def _body(worker: int, seq: int, batch: int, published: str) -> bytes:
    items = [
        article(f"load-{worker}-{seq}-{i}", f"{seq}/{i}", published, f"{worker}/{seq}/{i}")
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
        **harness.spread_ms(latencies, 1.0),
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
        print(
            f"{label} {concurrency} posters, {batch} article(s) per POST, {workers} ingest "
            f"process(es), {seconds:g} s",
            flush=True,
        )
        load = harness.child(
            "bench.ingest_load", "load", "--port", str(stack.ports["ingest"]), "--batch",
            str(batch), "--concurrency", str(concurrency), "--seconds", str(seconds),
        )  # fmt: skip
        time.sleep(1.0)  # the load's warm-up second
        # `livefeed ingest` and, with several workers, its worker processes
        cpu = CpuMeters(ingest=tree_pids(stack.pid("ingest")))
        cpu.start()
        row = harness.answer(load, timeout_s=seconds + 60)
        cpu_pct = cpu.stop()
    row.update(
        batch=batch,
        workers=workers,
        concurrency=concurrency,
        ingest_cpu_pct=cpu_pct["ingest"],
        other_cpu_pct=cpu_pct["other"],
    )
    print(
        f"{label} {row['articles_per_s']:.0f} articles/s ({row['requests_per_s']:.0f} req/s), "
        f"p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms, non-202 {row['other_answers']}, "
        f"ingest CPU {row['ingest_cpu_pct']:.0f}%, rest of machine {row['other_cpu_pct']:.0f}%",
        flush=True,
    )
    return row


MEDIANS = ("articles_per_s", "requests_per_s", "p50_ms", "p99_ms", "max_ms", "other_answers",
           "ingest_cpu_pct", "other_cpu_pct")  # fmt: skip


def compare(
    batch: int, concurrency: int, seconds: float, repeats: int, workers: list[int]
) -> dict[int, dict[str, Any]]:
    """*repeats* rounds, each running every ``workers`` count once (alternating, so that a
    busier moment of the shared machine does not fall on one count only); medians per count."""
    rows: dict[int, list[dict[str, Any]]] = {w: [] for w in workers}
    for i in range(repeats):
        for w in workers:
            label = f"[ingest batch={batch} workers={w} {i + 1}/{repeats}]"
            rows[w].append(run_once(batch, concurrency, seconds, label, w))
    out = {}
    for w, runs in rows.items():
        head = {"batch": batch, "workers": w, "concurrency": concurrency, "repeats": len(runs)}
        out[w] = {"summary": head | harness.medians(runs, MEDIANS), "runs": runs}
    return out


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of the ingest step (and of its load process, ``--child load --port``)."""
    p.add_argument("--batch", type=int, nargs="+", default=[1, 100], help="articles per POST")
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="ingest processes")
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Per batch size (``single``, ``batch100``, ...) the first ``--workers`` count's runs and
    medians, the others' under ``workers<count>``."""
    result: dict[str, Any] = {}
    first, *others = args.workers
    for batch in args.batch:
        name = "single" if batch == 1 else f"batch{batch}"
        by_count = compare(batch, args.concurrency, args.seconds, args.repeats, args.workers)
        result[name] = by_count[first]
        for w in others:
            result.setdefault(f"workers{w}", {})[name] = by_count[w]
    return result


def child(args: argparse.Namespace) -> dict[str, Any]:
    """The load process: ``--concurrency`` posters against ingest on ``--port``."""
    install_loop("uvloop")
    return asyncio.run(_load("127.0.0.1", args.port, args.concurrency, args.batch[0], args.seconds))


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "ingest"))
