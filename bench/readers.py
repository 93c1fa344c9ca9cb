"""Memory per connected reader, and where it goes: livefeed push against the bare floor.

    .venv/bin/python -m bench.readers [--n 10000,max] [--variants floor,livefeed] [--repeats 1]

For each variant and N, the server starts alone, N idle WebSocket readers connect from separate
processes (one loopback source address each, see ``bench.clients``), and the step reports per
reader:

* ``rss_per_reader_kib``: the server's RSS gain / N: what the process itself pays (Python
  objects, the event loop's transports, the allocator's slack);
* ``kernel_per_reader_kib``: the kernel's slab objects behind the server's end of a connection
  (socket, TCP state, inode, file, dentry, epoll entry: /proc/slabinfo, halved because both
  ends of a loopback connection live in this kernel), not in any process's RSS;
* ``python_per_reader`` (livefeed, ``--trace``): what tracemalloc sees allocated per reader,
  by source file, from a push process started under tracemalloc (bench/push_traced.py).

``max`` is the most one process can hold here: the hard limit on open files (``ulimit -Hn``)
less a margin. The machine is shared: RSS figures are stable, CPU ones are not measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.clients import ClientPool, ClientSpec
from bench.common import bench_redis, free_port, log_file, start_server, stop_process
from bench.fanout import nofile_limit, parse_ns
from bench.procstat import tree_rss_kib
from bench.variants import VARIANTS, LaunchContext

# The slab caches a connected TCP socket's server end uses (Linux 6.x names).
SLABS = ("TCP", "sock_inode_cache", "filp", "dentry", "eventpoll_epi", "eventpoll_pwq")
SETTLE_S = 2.0


def slab_bytes() -> dict[str, int]:
    """active objects x object size of each cache in SLABS (bytes)."""
    out = dict.fromkeys(SLABS, 0)
    for line in Path("/proc/slabinfo").read_text().splitlines()[2:]:
        fields = line.split()
        if fields[0] in out:
            out[fields[0]] = int(fields[1]) * int(fields[3])
    return out


def sockstat_tcp_pages() -> int:
    """Pages the kernel holds in TCP socket buffers (/proc/net/sockstat, ``mem``)."""
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            return int(fields[fields.index("mem") + 1])
    return 0


def take_snapshot(path: Path, pid: int) -> Any:
    """Ask a bench/push_traced.py process for a tracemalloc snapshot (SIGUSR1) and load it."""
    import tracemalloc

    done = path.with_suffix(".done")
    path.unlink(missing_ok=True)
    done.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while not done.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the traced push process wrote no snapshot")
        time.sleep(0.2)
    return tracemalloc.Snapshot.load(str(path))


def python_breakdown(before: Any, after: Any, n: int, top: int = 12) -> dict[str, float]:
    """Bytes per reader by source file (the ``top`` largest), from two tracemalloc snapshots."""
    stats = after.compare_to(before, "filename")
    out: dict[str, float] = {}
    for stat in stats[:top]:
        name = stat.traceback[0].filename
        for marker in ("site-packages/", "/work/", "lib/python3"):
            if marker in name:
                name = name.split(marker, 1)[1]
        out[name] = round(stat.size_diff / n, 1)
    out["total"] = round(sum(s.size_diff for s in stats) / n, 1)
    return out


def run_once(variant_name: str, n: int, redis_url: str, trace: bool, label: str) -> dict[str, Any]:
    """Start the server, connect N idle readers, measure; one row."""
    variant = VARIANTS[variant_name]
    ctx = LaunchContext(port=free_port(), redis_url=redis_url, stream=variant.stream)
    command = variant.command(ctx)
    snapshot = Path(tempfile.mkdtemp(prefix="lfb-trace-")) / "snapshot.bin"
    traced = trace and variant_name == "livefeed"
    if traced:
        command = [ctx.python, "-m", "bench.push_traced", str(snapshot)]
    server = start_server(command, variant.env(ctx), log_file(variant_name), ctx.port)
    procs = max(2, -(-n // (nofile_limit() - 500)))
    pool = ClientPool(ClientSpec(variant.url(ctx), "raw"), n, procs)
    row: dict[str, Any] = {"variant": variant_name, "n": n}
    try:
        time.sleep(SETTLE_S)
        first = take_snapshot(snapshot, server.pid) if traced else None
        rss0, slabs0, pages0 = tree_rss_kib(server.pid), slab_bytes(), sockstat_tcp_pages()
        print(f"{label} RSS {rss0 / 1024:.1f} MiB; connecting {n} readers", flush=True)
        pool.start()
        pool.wait_connected(timeout_s=60 + n / 100)
        time.sleep(SETTLE_S)
        connected = pool.connected()
        rss1, slabs1, pages1 = tree_rss_kib(server.pid), slab_bytes(), sockstat_tcp_pages()
        if traced:
            last = take_snapshot(snapshot, server.pid)
            row["python_per_reader"] = python_breakdown(first, last, connected)
    finally:
        pool.terminate()
        stop_process(server)
    kernel = {k: (slabs1[k] - slabs0[k]) / 2 / connected / 1024 for k in SLABS}
    row.update(
        connected=connected,
        rss_base_mib=rss0 / 1024,
        rss_connected_mib=rss1 / 1024,
        rss_per_reader_kib=(rss1 - rss0) / connected,
        kernel_per_reader_kib=sum(kernel.values()),
        kernel_by_cache_kib={k: round(v, 2) for k, v in kernel.items()},
        tcp_buffer_pages=pages1 - pages0,
    )
    print(
        f"{label} {connected} connected: {row['rss_per_reader_kib']:.2f} KiB RSS per reader, "
        f"kernel {row['kernel_per_reader_kib']:.2f} KiB per reader (slab, server end)",
        flush=True,
    )
    if "python_per_reader" in row:
        print(f"{label} tracemalloc per reader: {json.dumps(row['python_per_reader'])}", flush=True)
    return row


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of the readers step."""
    p.add_argument("--n", default="10000,max", help="comma list of reader counts (max: fd limit)")
    p.add_argument("--variants", default="floor,livefeed")
    p.add_argument("--trace", action="store_true", help="also run livefeed under tracemalloc")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every (variant, N, repeat); ``summary`` has the medians."""
    runs = []
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    with bench_redis("no") as redis_srv:
        for n in parse_ns(args.n):
            for rep in range(args.repeats):
                for name in names:
                    label = f"[readers {name} N={n} {rep + 1}/{args.repeats}]"
                    runs.append(run_once(name, n, redis_srv.url, False, label))
            if args.trace and "livefeed" in names:
                label = f"[readers livefeed N={n} tracemalloc]"
                traced = run_once("livefeed", n, redis_srv.url, True, label)
                traced["variant"] = "livefeed-traced"
                runs.append(traced)
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in runs:
        groups.setdefault((row["variant"], row["n"]), []).append(row)
    fields = ("connected", "rss_per_reader_kib", "kernel_per_reader_kib", "rss_base_mib")
    summary = []
    for (variant, n), rows in groups.items():
        entry = {"variant": variant, "n": n, "repeats": len(rows)} | harness.medians(rows, fields)
        if "python_per_reader" in rows[0]:
            entry["python_per_reader"] = rows[0]["python_per_reader"]
        entry["kernel_by_cache_kib"] = rows[0]["kernel_by_cache_kib"]
        summary.append(entry)
    return {"summary": summary, "runs": runs, "fd_limit": nofile_limit()}


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "readers"))
