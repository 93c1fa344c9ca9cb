"""Every benchmark in one run (``make bench``): results JSON, the plot and bench/RESULTS.md.

    .venv/bin/python -m bench.run_all                    # everything, medians of 3 (~30 min)
    .venv/bin/python -m bench.run_all --quick            # small N, 1 repeat: a smoke test (~4 min)
    .venv/bin/python -m bench.run_all --only fanout,resume --repeats 3

Steps (``--only`` takes these names): ``fanout`` (floor vs python-socketio vs livefeed,
N = 1,000 / 5,000 / 10,000, one headline per 100 ms), ``fanout1s`` (N = 10,000 at one headline
per second, floor vs livefeed; and the most one process can hold, ``max``), ``readers`` (RSS
and kernel memory per idle reader at 10,000 and ``max``, floor vs livefeed, with a tracemalloc
breakdown), ``many`` (100,000 readers over 6 push processes, a headline every 5 s), ``grip``
(SSE readers through a real Pushpin against push's own at N = 500 / 2,000 / 5,000: POST ->
frame, readers per core, origin CPU per event),
``e2e`` (POST -> client, 20/s, 1,000 clients), ``stages`` (POST -> frame
stage by stage at 2,000 readers against the bare broadcast), ``ingest``
(single and batches of 100, 50 posters), ``apply`` (worker kinds, batching, appendfsync),
``resume`` (5,000 clients, since 200 back), ``stalled`` (0 / 1 / 10 readers that stop reading among
1,000 that read, ~2 KiB headlines every 100 ms), ``webpush`` (one breaking story to 10,000
Web Push subscriptions on a local push service that checks VAPID and decrypts), ``reads``
(the page, timeline, fragment and RSS against the /healthz floor, on feed and through Varnish,
and a 5,000 page loads/s spike through Varnish). Each writes
bench/results/<step>.json as it ends; RESULTS.md and bench/fanout.png are rebuilt from whatever
results exist, so a partial rerun keeps the other figures (and says when each was measured).

Before starting, a full run waits (up to ``--max-wait`` s) for the 1-minute load average to
drop below ``--max-load``, because other work on the machine shows up as latency; the load at
each step is recorded next to its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from bench import (
    apply,
    e2e,
    fanout,
    grip,
    harness,
    ingest_load,
    many,
    readers,
    reads,
    replicas,
    resume,
    stages,
    stalled,
    webpush,
)
from bench.common import REPO_ROOT, raise_nofile_limit
from bench.report import write_report

RESULTS_DIR = harness.RESULTS_DIR


def _fanout(quick: bool) -> list[str]:
    n = "1000" if quick else "1000,5000,10000"
    return ["--variants", "floor,socketio,livefeed", "--n", n, "--events", "30" if quick else "60"]


def _fanout1s(quick: bool) -> list[str]:
    return ["--variants", "floor,livefeed", "--n", "2000" if quick else "10000,max", "--interval",
            "1.0", "--events", "5" if quick else "15", "--warmup", "2", "--raw-clients",
            "--drain", "30",
            "--out", "bench/results/fanout1s.json"]  # fmt: skip


def _stalled(quick: bool) -> list[str]:
    return ["--n", "1000", "--stalled", "0,1,10", "--events", "120" if quick else "200",
            "--summary-bytes", "2048", "--buffer-bytes", "65536"]  # fmt: skip


# step -> (module, its options full or --quick); --repeats is added to each
STEPS: dict[str, tuple[ModuleType, Callable[[bool], list[str]]]] = {
    "fanout": (fanout, _fanout),
    "fanout1s": (fanout, _fanout1s),
    "readers": (readers, lambda q: ["--n", "2000" if q else "10000,max", "--trace"]),
    # 100,000 readers over 6 push processes, a headline every 5 s (quick: 6,000 over 3)
    "many": (
        many,
        lambda q: ["--readers", "6000", "--processes", "3", "--headlines", "4"] if q else [],
    ),
    # SSE readers through a real Pushpin against push's own, one run; origin CPU per event
    # as the readers grow (quick: 500 and 2,000)
    "grip": (
        grip,
        lambda q: ["--n", "500,2000", "--events", "10"] if q else ["--n", "500,2000,5000"],
    ),
    "e2e": (e2e, lambda q: ["--n", "1000", "--rate", "20", "--seconds", "10" if q else "20"]),
    # POST -> frame stage by stage at 2,000 readers, against the bare broadcast in the same round
    "stages": (stages, lambda q: ["--n", "2000", "--events", "15" if q else "30"]),
    # single articles and batches of 100; one ingest process and LIVEFEED_INGEST_WORKERS=2
    "ingest": (
        ingest_load,
        lambda q: ["--batch", "1", "100", "--workers", "1", "2", "--seconds", "5" if q else "10"],
    ),
    "apply": (apply, lambda q: ["--quick"] if q else []),
    "resume": (resume, lambda q: ["--n", "1000" if q else "5000", "--back", "200"]),
    "stalled": (stalled, _stalled),
    # one breaking story to 10,000 Web Push subscriptions on a local push service
    "webpush": (webpush, lambda q: ["--n", "2000" if q else "10000"]),
    # the floor, the page, timeline, fragment and RSS on feed and through Varnish; 2 feed
    # workers; a 5,000 page loads/s spike through Varnish while 2 headlines/s are posted
    "reads": (
        reads,
        lambda q: ["--seconds", "3", "--spike-seconds", "8"] if q else ["--seconds", "8"],
    ),
    # LIVEFEED_REDIS_MIN_REPLICAS 0 and 1 on a primary with one replica
    "replicas": (replicas, lambda q: ["--seconds", "3" if q else "5", "--jobs", "1000"]),
}


def machine() -> dict[str, Any]:
    """Cores, RAM, CPU model, Python: what a reader needs to compare figures."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def wait_quiet(max_load: float, max_wait_s: float) -> float:
    """Wait until the 1-minute load average is below *max_load* (or time is up); return it."""
    deadline = time.monotonic() + max_wait_s
    while True:
        load = os.getloadavg()[0]
        if load < max_load or time.monotonic() >= deadline:
            return load
        print(
            f"waiting for a quieter machine: load average {load:.2f} >= {max_load} "
            f"({(deadline - time.monotonic()) / 60:.0f} min left)",
            flush=True,
        )
        time.sleep(30)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen steps, then rebuild RESULTS.md and the plot."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="small N, 1 repeat, short runs")
    p.add_argument("--only", default=",".join(STEPS), help=f"comma list of {', '.join(STEPS)}")
    p.add_argument("--repeats", type=int, default=None, help="repeats per figure (3; quick: 1)")
    p.add_argument("--max-load", type=float, default=1.5)
    p.add_argument("--max-wait", type=float, default=1200, help="seconds (quick: 0)")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    steps = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(steps) - set(STEPS)
    if unknown:
        p.error(f"unknown step(s) {sorted(unknown)}; known: {', '.join(STEPS)}")
    raise_nofile_limit()  # the client processes inherit it: 10,000 sockets
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    load = wait_quiet(args.max_load, 0 if args.quick else args.max_wait)
    (RESULTS_DIR / "machine.json").write_text(
        json.dumps({**machine(), "quick": args.quick, "load_at_start": round(load, 2)}, indent=2)
        + "\n"
    )
    failed = []
    for step in steps:
        module, options = STEPS[step]
        started, load0 = time.time(), os.getloadavg()[0]
        print(f"== {step} (load average {load0:.2f})", flush=True)
        try:
            harness.run(module, step, [*options(args.quick), "--repeats", str(args.repeats)])
        except (
            RuntimeError,
            OSError,
            subprocess.SubprocessError,
            ValueError,
            KeyError,
            httpx.HTTPError,
        ) as exc:
            # One broken step must not cost the others' figures: record it and go on.
            traceback.print_exc()
            failed.append(step)
            error = {"error": f"{type(exc).__name__}: {exc}"}
            harness.save(RESULTS_DIR / f"{step}.json", error, step, started, load0)
    write_report(
        RESULTS_DIR,
        REPO_ROOT / "bench/RESULTS.md",
        REPO_ROOT / "bench/fanout.png",
        None if args.quick else REPO_ROOT / "README.md",  # a smoke test never edits README
    )
    print(f"written {REPO_ROOT / 'bench/RESULTS.md'} and {REPO_ROOT / 'bench/fanout.png'}")
    if failed:
        print(f"FAILED steps: {', '.join(failed)} (see above)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
