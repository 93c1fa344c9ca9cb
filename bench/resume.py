"""Resume storm: N clients reconnect to a push process at once, each ``since`` K events back.

The stream holds K+1 events (written as the feed worker writes them); the push process starts
after them (as after a restart); then N clients, spread over separate processes, all open
``/v1/stream?since=<id of the first>`` at the same wall-clock instant. Measured: the time from
that instant until the last client has received all K events, and for every client that the
K events arrived in order, none twice (``duplicates``), none missing (``lost``).

    .venv/bin/python -m bench.resume --n 5000 --back 200 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from functools import partial
from typing import Any

import redis

from bench import harness
from bench.clients import ClientPool, ClientSpec
from bench.common import bench_redis
from bench.procstat import CpuMeters, tree_rss_kib
from bench.publisher import make_headline
from bench.stack import Stack
from bench.variants import write_livefeed_event
from shared import keys


def run_once(n: int, back: int, procs: int, label: str) -> dict[str, Any]:
    """One storm; returns a result row."""
    with bench_redis("no") as srv:
        client = redis.Redis.from_url(srv.url)
        write_livefeed_event(client, keys.EVENTS, make_headline(-1, time.time_ns()))
        since = client.xrevrange(keys.EVENTS, "+", "-", count=1)[0][0].decode()  # type: ignore[index,union-attr]
        for seq in range(back):
            write_livefeed_event(client, keys.EVENTS, make_headline(seq, time.time_ns()))
        client.close()
        with Stack(srv.url, services=("push",)) as stack:
            push_pid = stack.pid("push")
            start_at = time.time() + 3.0  # let the client processes start and import first
            spec = ClientSpec(
                f"{stack.push_url}?since={since}",
                protocol="raw",
                connect_concurrency=n,
                start_at=start_at,
                open_timeout=60.0,
            )
            pool = ClientPool(spec, n, procs)
            pool.start()
            cpu = CpuMeters(server=[push_pid], client=pool.pids)
            while time.time() < start_at:
                time.sleep(0.01)
            cpu.start()
            print(f"{label} {n} clients reconnect with since {back} events back", flush=True)
            done = pool.wait_received(n * back, timeout_s=60.0)
            cpu_pct = cpu.stop()
            rss_kib = tree_rss_kib(push_pid)
            results = pool.stop_and_collect()
            pool.terminate()
    received = sum(sum(r.per_client) for r in results)
    connected = sum(r.connected for r in results)
    last_ns = max((r.last_ns for r in results), default=0)
    short = sum(1 for r in results for c in r.per_client if c < back)
    row = {
        "n": n,
        "back": back,
        "connected": connected,
        "all_caught_up": done and received == n * back,
        "caught_up_s": (last_ns / 1e9 - start_at) if last_ns else float("nan"),
        "received": received,
        "expected": n * back,
        "lost": n * back - received,
        "clients_short": short,
        "duplicates": sum(r.duplicates for r in results),
        "connect_errors": dict(sum((Counter(r.connect_errors) for r in results), Counter())),
        **{f"{name}_cpu_pct": value for name, value in cpu_pct.items()},
        "server_rss_mib": rss_kib / 1024,
    }
    print(
        f"{label} all caught up in {row['caught_up_s']:.2f} s: {received}/{n * back} frames, "
        f"duplicates {row['duplicates']}, clients short {short}, "
        f"CPU push {cpu_pct['server']:.0f}% clients {cpu_pct['client']:.0f}% "
        f"other {cpu_pct['other']:.0f}%",
        flush=True,
    )
    return row


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of the resume step."""
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--back", type=int, default=200)
    p.add_argument("--procs", type=int, default=2, help="client processes")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """``--repeats`` storms; medians in ``summary``."""
    n, back, repeats = args.n, args.back, args.repeats
    rows = harness.repeat(repeats, f"resume N={n}", partial(run_once, n, back, args.procs))
    summary: dict[str, Any] = {"n": n, "back": back, "repeats": repeats}
    summary |= harness.medians(
        rows,
        ("caught_up_s", "lost", "duplicates", "server_cpu_pct", "client_cpu_pct", "other_cpu_pct"),
    )
    summary["worst_caught_up_s"] = max(r["caught_up_s"] for r in rows)
    summary["all_complete"] = all(r["all_caught_up"] for r in rows)
    summary["max_lost"] = max(r["lost"] for r in rows)
    summary["max_duplicates"] = max(r["duplicates"] for r in rows)
    return {"summary": summary, "runs": rows}


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "resume"))
