"""WebSocket fan-out benchmark driver.

For each server variant and each N: start the variant against an embedded redis-server, connect
N listening clients from separate processes, publish K ~300 B headlines at a fixed rate into the
Redis Stream, and measure delivery latency (p50/p99/max, and the time until every client had a
headline), frames lost, server RSS per connection and server CPU. Each (variant, N) is repeated R
times; the table shows medians. Results go to bench/results/fanout.json.

    .venv/bin/python -m bench.fanout                        # floor+socketio, N=1000,5000, R=3
    .venv/bin/python -m bench.fanout --variants floor --n 1000 --repeats 1
    .venv/bin/python -m bench.fanout --with-10k             # adds N=10000
"""

from __future__ import annotations

import argparse
import contextlib
import math
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis

from bench import harness
from bench.clients import ClientPool, ClientSpec, WorkerResult, latencies_ns
from bench.common import bench_redis, free_port, log_file, percentile, start_server, stop_process
from bench.procstat import CpuMeters, tree_pids, tree_rss_kib
from bench.publisher import publish, publish_warmup
from bench.variants import VARIANTS, LaunchContext, Variant

MEDIAN_FIELDS = ("connected", "p50_ms", "p99_ms", "max_ms", "reach_all_p50_ms", "reach_all_p99_ms",
                 "lost", "lost_pct", "clients_with_loss", "duplicates", "rss_per_conn_kib",
                 "rss_base_mib", "server_cpu_pct", "client_cpu_pct", "other_cpu_pct",
                 "publish_slip_max_ms", "connect_s", "cpu_us_per_frame")  # fmt: skip
"""The figures a summary row gives the median of."""

Probe = Callable[[LaunchContext], contextlib.AbstractContextManager[dict[str, Any]]]
"""Entered once the clients are connected, left after the drain: extra figures for the row."""


def delivery_metrics(results: list[WorkerResult], events: int, connected: int) -> dict[str, Any]:
    """Latency percentiles, per-headline reach-all times and losses from the workers' results."""
    lat = latencies_ns(results)
    seq_max: dict[int, int] = {}
    seq_count: dict[int, int] = {}
    for r in results:
        for seq, value in r.seq_max_ns.items():
            seq_max[seq] = max(value, seq_max.get(seq, 0))
        for seq, count in r.seq_count.items():
            seq_count[seq] = seq_count.get(seq, 0) + count
    reach_all = sorted(seq_max[s] for s in range(events) if seq_count.get(s, 0) >= connected > 0)
    expected = connected * events
    per_client = [c for r in results for c in r.per_client]
    return {
        "expected": expected,
        "received": len(lat),
        "lost": expected - len(lat),
        "lost_pct": 100.0 * (expected - len(lat)) / expected if expected else float("nan"),
        "clients_with_loss": sum(1 for c in per_client if c < events)
        - (len(per_client) - connected),
        "duplicates": sum(r.duplicates for r in results),
        "closed_early": sum(r.closed_early for r in results),
        **harness.spread_ms(lat, 1e-9),
        "events_reaching_all": len(reach_all),
        "reach_all_p50_ms": percentile(reach_all, 0.50) / 1e6,
        "reach_all_p99_ms": percentile(reach_all, 0.99) / 1e6,
        "slowest_per_event_ms": [round(seq_max.get(s, -1) / 1e6, 2) for s in range(events)],
    }


def run_once(
    variant: Variant,
    n: int,
    redis_url: str,
    args: argparse.Namespace,
    label: str,
    probe: Probe | None = None,
) -> dict[str, Any]:
    """One measured run of *variant* with *n* clients; returns a flat result row.

    A *probe* (e.g. stalled readers, bench/stalled.py) is entered after the clients connected
    and before the RSS sample and publishing; the figures it yields are merged into the row.
    """
    rclient = redis.Redis.from_url(redis_url)
    rclient.delete(variant.stream)
    ctx = LaunchContext(port=free_port(), redis_url=redis_url, stream=variant.stream)
    log_path = log_file(variant.name)
    server = start_server(variant.command(ctx), variant.env(ctx), log_path, ctx.port)
    # Each client process stays under the machine's descriptor limit (one per connection).
    procs = max(args.procs, math.ceil(n / (nofile_limit() - 500)))
    protocol = "raw" if args.raw_clients and variant.protocol == "ws" else variant.protocol
    pool = ClientPool(ClientSpec(variant.url(ctx), protocol, variant.origin), n, procs)
    probes = contextlib.ExitStack()
    extra: dict[str, Any] = {}
    try:
        time.sleep(0.5)
        rss_base = tree_rss_kib(server.pid)
        print(
            f"{label} server pid {server.pid} on :{ctx.port}, RSS {rss_base / 1024:.1f} MiB; "
            f"connecting {n} clients",
            flush=True,
        )
        t0 = time.monotonic()
        pool.start()
        all_in = pool.wait_connected(timeout_s=30 + n / 100)
        connect_s = time.monotonic() - t0
        time.sleep(1.0)
        if probe is not None:
            extra = probes.enter_context(probe(ctx))
        connected = pool.connected()
        rss_conn = tree_rss_kib(server.pid)
        print(
            f"{label} connected {connected}/{n} in {connect_s:.1f} s "
            f"(failed {pool.failed()}, all: {all_in}); "
            f"RSS {rss_conn / 1024:.1f} MiB",
            flush=True,
        )
        publish_warmup(rclient, variant.stream, variant.write_event, args.warmup, args.interval)
        time.sleep(0.5)
        cpu = CpuMeters(server=tree_pids(server.pid), client=pool.pids)
        cpu.start()
        cpu_t0 = time.monotonic()
        print(
            f"{label} publishing {args.events} headlines every {args.interval * 1000:.0f} ms",
            flush=True,
        )
        slips = publish(rclient, variant.stream, variant.write_event, args.events, args.interval)
        time.sleep(args.interval)
        cpu_pct = cpu.stop()
        cpu_wall_s = time.monotonic() - cpu_t0
        drained = pool.wait_received(connected * args.events, args.drain)
        print(
            f"{label} received {pool.received()}/{connected * args.events} (drained: {drained})",
            flush=True,
        )
        results = pool.stop_and_collect()
        rss_after = tree_rss_kib(server.pid)
        probes.close()  # only now: RSS after is measured with the probe's sockets still open
    finally:
        probes.close()
        try:
            pool.terminate()
        finally:
            stop_process(server)
            rclient.close()
    if len(results) != len(pool.shares):
        raise RuntimeError(f"only {len(results)} of {len(pool.shares)} client processes reported")
    row: dict[str, Any] = {
        "variant": variant.name,
        "n": n,
        "connected": connected,
        "connect_s": connect_s,
        "events": args.events,
        "interval_ms": args.interval * 1000,
        "rss_base_mib": rss_base / 1024,
        "rss_connected_mib": rss_conn / 1024,
        "rss_after_mib": rss_after / 1024,
        "rss_per_conn_kib": (rss_conn - rss_base) / connected if connected else float("nan"),
        **{f"{name}_cpu_pct": value for name, value in cpu_pct.items()},
        "publish_slip_max_ms": max(slips, default=0.0) * 1000,
        "connect_errors": dict(sum((Counter(r.connect_errors) for r in results), Counter())),
        "server_log": str(log_path),
    }
    row.update(delivery_metrics(results, args.events, connected))
    # The server's CPU time over the publish period (pings and all) per frame it delivered.
    server_cpu_s = cpu_pct["server"] / 100 * cpu_wall_s
    row["cpu_us_per_frame"] = server_cpu_s * 1e6 / row["received"] if row["received"] else 0.0
    row.update(extra)
    return row


def nofile_limit() -> int:
    """File descriptors a process may open here (the hard limit; bench processes raise to it)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def max_readers() -> int:
    """The most readers one server process can hold on this machine: one descriptor each, less
    room for its own files and Redis, rounded down to 500 (``--n max``)."""
    return (nofile_limit() - 200) // 500 * 500


def parse_ns(text: str) -> list[int]:
    """``--n``: a comma list of client counts; ``max`` is ``max_readers()``."""
    return [max_readers() if x.strip() == "max" else int(x) for x in text.split(",") if x.strip()]


def summarize(
    rows: list[dict[str, Any]], fields: tuple[str, ...] = MEDIAN_FIELDS
) -> dict[str, Any]:
    """Medians of *fields* over the repeats of one (variant, N)."""
    head = {"variant": rows[0]["variant"], "n": rows[0]["n"], "repeats": len(rows)}
    return head | harness.medians(rows, fields)


def format_table(summaries: list[dict[str, Any]]) -> str:
    """Plain-text table of the summaries."""
    head = (
        f"{'variant':<10}{'N':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'all p50':>9}"
        f"{'lost':>9}{'lost %':>8}"
        f"{'KiB/conn':>10}{'srv CPU%':>9}{'µs/frame':>9}{'cli CPU%':>9}{'other%':>8}"
    )
    lines = [head, "-" * len(head)]
    for s in summaries:
        lines.append(
            f"{s['variant']:<10}{s['n']:>7}{s['p50_ms']:>9.1f}{s['p99_ms']:>9.1f}{s['max_ms']:>9.1f}"
            f"{s['reach_all_p50_ms']:>9.1f}{s['lost']:>9.0f}{s['lost_pct']:>8.2f}{s['rss_per_conn_kib']:>10.1f}"
            f"{s['server_cpu_pct']:>9.0f}{s['cpu_us_per_frame']:>9.2f}"
            f"{s['client_cpu_pct']:>9.0f}{s['other_cpu_pct']:>8.0f}"
        )
    return "\n".join(lines)


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of the fan-out step."""
    p.add_argument(
        "--variants", default="floor,socketio", help=f"comma list of {', '.join(VARIANTS)}"
    )
    p.add_argument(
        "--n", default="1000,5000", help="comma list of client counts (max: the fd limit allows)"
    )
    p.add_argument("--with-10k", action="store_true", help="also run N=10000")
    p.add_argument("--events", type=int, default=100, help="headlines per run (K)")
    p.add_argument("--interval", type=float, default=0.1, help="seconds between headlines")
    p.add_argument("--warmup", type=int, default=3, help="uncounted headlines before measuring")
    p.add_argument("--procs", type=int, default=2, help="client processes")
    p.add_argument("--drain", type=float, default=5.0, help="max seconds for stragglers at the end")
    p.add_argument(
        "--raw-clients",
        action="store_true",
        help="WebSocket variants get RawClient (bench/clients.py: ~5x less client CPU), so "
        "tens of thousands of clients on the same cores measure the server",
    )


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every (variant, N, repeat) against one embedded Redis: ``summary`` (medians), ``runs``.

    Repeats are interleaved across variants (floor, socketio, livefeed, floor, ...) so a noisy
    stretch on the machine hits every variant alike.
    """
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    ns = parse_ns(args.n) + ([10000] if args.with_10k else [])
    if unknown := [v for v in names if v not in VARIANTS]:
        raise ValueError(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    if args.events * args.interval > 300:
        raise ValueError("a run is capped at 300 s of publishing")
    variants = []
    for name in names:
        if reason := VARIANTS[name].unavailable():
            print(f"[{name}] skipped: {reason}", flush=True)
        else:
            variants.append(VARIANTS[name])
    runs: list[dict[str, Any]] = []
    with bench_redis("no") as redis_srv:
        for n in ns:
            for rep in range(args.repeats):
                for variant in variants:
                    label = (
                        f"[fanout {variant.name} N={n} every {args.interval * 1000:.0f} ms "
                        f"{rep + 1}/{args.repeats}]"
                    )
                    row = run_once(variant, n, redis_srv.url, args, label)
                    print(
                        f"{label} p50 {row['p50_ms']:.1f} ms  p99 {row['p99_ms']:.1f} ms  "
                        f"max {row['max_ms']:.1f} ms  "
                        f"all-reached p50 {row['reach_all_p50_ms']:.1f} ms  lost {row['lost']}  "
                        f"{row['rss_per_conn_kib']:.1f} KiB/conn  "
                        f"server CPU {row['server_cpu_pct']:.0f}% "
                        f"({row['cpu_us_per_frame']:.2f} µs/frame)  "
                        f"clients CPU {row['client_cpu_pct']:.0f}%  "
                        f"other CPU {row['other_cpu_pct']:.0f}%",
                        flush=True,
                    )
                    runs.append(row)
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in runs:
        groups.setdefault((row["variant"], row["n"]), []).append(row)
    summaries = [summarize(rows) for rows in groups.values()]
    print(format_table(summaries), flush=True)
    return {"summary": summaries, "runs": runs}


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "fanout"))
