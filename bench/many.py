"""100,000 readers on one machine: several push processes, one headline every 5 s to every reader.

    .venv/bin/python -m bench.many --readers 100000 --processes 6 --headlines 12

The embedded Redis (``appendfsync always``), ``livefeed ingest`` and ``livefeed worker``, and
``--processes`` ``livefeed push`` processes, each on a port of its own (as compose or systemd
would run them behind a load balancer: docs/operations.md, "More readers than one process
holds"). ``--readers`` raw WebSocket clients are spread evenly over the push processes from as
many client processes (one per push process, each from its own loopback address: one address
has ~28,000 ephemeral ports, one process at most ``ulimit -Hn`` descriptors). Then one headline
is POSTed to ingest every ``--every`` seconds; each client checks it gets every headline, once
and in order.

Reported: POST -> frame p50/p99 over every reader and headline, lost and duplicated frames,
RSS per reader (the push processes' RSS gain over all readers), CPU per delivered frame (the
push processes' CPU time over the posting period / frames delivered), the connect time.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from typing import Any

from bench import harness
from bench.clients import ClientPool, ClientSpec
from bench.common import bench_redis, free_port
from bench.e2e import post_schedule
from bench.fanout import delivery_metrics, nofile_limit
from bench.procstat import CpuMeters, tree_rss_kib
from bench.stack import Stack


def run_once(
    readers: int, processes: int, headlines: int, every: float, label: str
) -> dict[str, Any]:
    """One run; a flat result row."""
    shares = [
        readers // processes + (1 if i < readers % processes else 0) for i in range(processes)
    ]
    share = shares[0]
    if share > nofile_limit() - 500:
        raise ValueError(f"{share} readers per process is past the descriptor limit")
    with ExitStack() as stack, bench_redis("always") as srv:
        core = stack.enter_context(Stack(srv.url, services=("ingest", "worker")))
        pushes = []
        for _ in range(processes):
            ports = {**core.ports, "push": free_port(), "worker": free_port()}
            pushes.append(
                stack.enter_context(
                    Stack(srv.url, services=("push",), ports=ports,
                          extra_env={"LIVEFEED_PUSH_MAX_HANDSHAKING": "5000",
                                     "LIVEFEED_PUSH_MAX_HANDSHAKING_PER_IP": "5000"})
                )
            )  # fmt: skip
        pids = [push.pid("push") for push in pushes]
        rss0 = sum(tree_rss_kib(pid) for pid in pids)
        pools = []
        t0 = time.monotonic()
        for n, push in enumerate(pushes):
            pool = ClientPool(
                ClientSpec(push.push_url, protocol="raw"), share, 1, first_source=2 + n
            )
            pool.start()
            stack.callback(pool.terminate)
            pools.append(pool)
        for pool in pools:
            if not pool.wait_connected(timeout_s=600, progress_every_s=10):
                raise RuntimeError(f"only {pool.connected()}/{pool.n_total} connected")
        connect_s = time.monotonic() - t0
        connected = sum(pool.connected() for pool in pools)
        time.sleep(2.0)
        rss = sum(tree_rss_kib(pid) for pid in pids)
        print(f"{label} {connected:,} readers on {processes} push processes in {connect_s:.0f} s; "
              f"push RSS {rss0 / 1024:.0f} -> {rss / 1024:.0f} MiB", flush=True)  # fmt: skip
        post_schedule(core.ingest_url, 2, 1.0, prefix="warmup")
        time.sleep(2.0)
        cpu = CpuMeters(push=pids, clients=[p for pool in pools for p in pool.pids])
        cpu.start()
        wall0 = time.monotonic()
        print(f"{label} posting {headlines} headlines, one every {every:g} s", flush=True)
        _took, failures = post_schedule(core.ingest_url, headlines, 1 / every)
        expected = connected * headlines
        done = all(pool.wait_received(pool.connected() * headlines, timeout_s=30) for pool in pools)
        wall = time.monotonic() - wall0
        cpu_pct = cpu.stop()
        results = [r for pool in pools for r in pool.stop_and_collect()]
    row: dict[str, Any] = {
        "readers": readers,
        "processes": processes,
        "connected": connected,
        "connect_s": connect_s,
        "headlines": headlines,
        "every_s": every,
        "post_failures": failures,
        "drained": done,
        "rss_per_reader_kib": (rss - rss0) / connected,
        "push_rss_mib": rss / 1024,
        **{f"{name}_cpu_pct": value for name, value in cpu_pct.items()},
    }
    row |= delivery_metrics(results, headlines, connected)
    row["expected"] = expected
    push_cpu_s = cpu_pct["push"] / 100 * wall
    row["cpu_us_per_frame"] = push_cpu_s * 1e6 / row["received"] if row["received"] else 0.0
    row.pop("slowest_per_event_ms", None)
    print(
        f"{label} POST->frame p50 {row['p50_ms']:.0f} ms p99 {row['p99_ms']:.0f} ms, all reached "
        f"p50 {row['reach_all_p50_ms']:.0f} ms; lost {row['lost']}, duplicates "
        f"{row['duplicates']}; {row['rss_per_reader_kib']:.2f} KiB/reader; "
        f"{row['cpu_us_per_frame']:.2f} µs push CPU/frame",
        flush=True,
    )
    return row


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of the many-readers step."""
    p.add_argument("--readers", type=int, default=100_000)
    p.add_argument("--processes", type=int, default=6, help="push processes (and client ones)")
    p.add_argument("--headlines", type=int, default=12)
    p.add_argument("--every", type=float, default=5.0, help="seconds between headlines")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """``--repeats`` runs; medians in ``summary``."""
    rows = harness.repeat(
        args.repeats,
        f"many N={args.readers}",
        lambda label: run_once(args.readers, args.processes, args.headlines, args.every, label),
    )
    numeric = [
        k for k, v in rows[0].items() if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    summary: dict[str, Any] = harness.medians(rows, numeric)
    summary["max_lost"] = max(r["lost"] for r in rows)
    summary["max_duplicates"] = max(r["duplicates"] for r in rows)
    summary["repeats"] = args.repeats
    return {"summary": summary, "runs": rows}


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "many"))
