"""GRIP: readers through a real Pushpin against livefeed's own push, same machine, same run.

One run starts everything once: the embedded Redis (``appendfsync always``), ``livefeed ingest``,
``livefeed worker``, ``livefeed push``, ``livefeed feed`` with ``LIVEFEED_GRIP=1`` and a
``LIVEFEED_GRIP_KEY``, Debian's Pushpin in front of feed (tests/pushpin.py: the shipped
deploy/pushpin config and routes, ``message_rate`` raised, signed with the key) and
``livefeed grip-publisher`` publishing to Pushpin. Then, for each N in ``--n`` (ascending), two
phases, their order alternating from run to run:

- **push**: N SSE readers (``GET /v1/events``, raw SSE clients in 2 client processes) straight
  on push's port;
- **pushpin**: N SSE readers on Pushpin's port: Pushpin asks feed once per reader (the GRIP
  hold), holds the connection, and gets each event once per channel from the publisher.

In each phase ``--events`` headlines are POSTed to ingest one at a time, one every
``--interval`` s; the id carries the time taken just before the request, so latency is
POST -> frame, the whole path. Measured per phase: POST -> frame p50/p99, lost and repeated
frames, CPU seconds of every server process (``bench/procstat.py``: push; Pushpin's runner and
every process it started: condure, zurl, pushpin-proxy, pushpin-handler; feed; the publisher)
while posting, and of feed while the readers connected; the serving processes' RSS gain per
reader.

Derived: **readers per core** = N / (cores the delivery path used while posting = its CPU
seconds / wall seconds; push alone, or Pushpin + feed + publisher), at this event rate and
these keep-alives; **µs per frame** = that CPU / frames delivered (rate-free: readers per core
at r events/s ~ 1e6 / (µs per frame x r)); **origin CPU per event** = (feed + publisher) CPU
while posting / headlines, which should not grow with N (the origin answers each reader once,
at connect, then publishes once per channel); **feed CPU per connect** = feed CPU while the N
readers connected / N, with feed's ``livefeed_grip_answers`` counter as the check that it was
asked once per reader.

    .venv/bin/python -m bench.grip --n 500,2000,5000 --events 30 --repeats 3
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import harness
from bench.clients import ClientPool, ClientSpec
from bench.common import bench_redis, raise_nofile_limit
from bench.e2e import post_schedule
from bench.fanout import delivery_metrics
from bench.procstat import CpuMeters, cpu_ns, tree_pids, tree_rss_kib
from bench.stack import Stack
from tests.pushpin import Pushpin

PATHS = ("push", "pushpin")
GRIP_KEY = "bench-grip-key-" + "k" * 24  # Pushpin signs every request to feed with it
# Figures medians are taken of (per N and path).
NUMERIC = (
    "connected", "connect_s", "connect_refused", "p50_ms", "p99_ms", "max_ms",
    "reach_all_p50_ms", "lost", "duplicates", "wall_s", "serve_cpu_s", "serve_cpu_pct",
    "cores_used", "readers_per_core",
    "cpu_us_per_frame", "rss_per_reader_kib", "push_cpu_s", "pushpin_cpu_s", "feed_cpu_s",
    "publisher_cpu_s", "origin_cpu_ms_per_event", "feed_connect_cpu_us_per_reader",
    "feed_answers_per_reader", "origin_idle_cpu_pct", "clients_cpu_pct", "other_cpu_pct",
    "connect_retries", "reconnects", "feed_recovers",
)  # fmt: skip
# A reader's connect: tries, each within this many seconds (TCP connect to the first byte of
# the answer's head); a stream ended early is opened again (Last-Event-ID) as often.
CONNECT_ATTEMPTS = 5
CONNECT_TIMEOUT_S = 10.0


@dataclass
class Rig:
    """Everything one run started: the services, Pushpin and the publisher."""

    core: Stack
    publisher: Stack
    pushpin: Pushpin

    @property
    def feed_base(self) -> str:
        """feed's own port (its /metrics)."""
        return f"http://127.0.0.1:{self.core.ports['feed']}"

    def url(self, path: str) -> str:
        """Where a reader of *path* opens its event stream."""
        if path == "push":
            return f"http://127.0.0.1:{self.core.ports['push']}/v1/events"
        return f"{self.pushpin.url}/v1/events"

    def groups(self) -> dict[str, list[int]]:
        """The server processes by role (Pushpin's runner with every process it started)."""
        assert self.pushpin.process is not None
        return {
            "push": [self.core.pid("push")],
            "pushpin": tree_pids(self.pushpin.process.pid),
            "feed": tree_pids(self.core.pid("feed")),
            "publisher": [self.publisher.pid("grip-publisher")],
        }

    def pushpin_parts(self) -> dict[str, list[int]]:
        """Pushpin's processes by name (``pp_condure``, ``pp_pushpin_handler``, ...)."""
        assert self.pushpin.process is not None
        parts: dict[str, list[int]] = {}
        for pid in tree_pids(self.pushpin.process.pid):
            name = command_name(pid)
            if name is not None:
                parts.setdefault("pp_" + name.replace("-", "_"), []).append(pid)
        return parts


def command_name(pid: int) -> str | None:
    """The process's name (/proc/<pid>/comm), None if it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


@contextmanager
def rig(redis_url: str) -> Iterator[Rig]:
    """Start the stack, Pushpin in front of feed, and the publisher; stop them all after."""
    folder = Path(tempfile.mkdtemp(prefix="lfb-grip-"))
    grip_env = {"LIVEFEED_GRIP": "1", "LIVEFEED_GRIP_KEY": GRIP_KEY}
    try:
        with Stack(
            redis_url, services=("ingest", "worker", "push", "feed"), extra_env=grip_env
        ) as core:
            pushpin = Pushpin(folder, core.ports["feed"], sig_key=GRIP_KEY).start()
            try:
                env = grip_env | {"LIVEFEED_GRIP_PUBLISH": pushpin.publish_url}
                ports = {**core.ports}
                with Stack(
                    redis_url, services=("grip-publisher",), ports=ports, extra_env=env
                ) as publisher:
                    yield Rig(core, publisher, pushpin)
            finally:
                pushpin.stop()
                keep_logs(pushpin)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def keep_logs(pushpin: Pushpin) -> None:
    """Pushpin's logs out of the run's folder, kept after the run for post-mortems (as the
    services' /tmp/bench-<name>-*.log)."""
    if pushpin.logdir.exists():
        kept = shutil.copytree(
            pushpin.logdir, tempfile.mkdtemp(prefix="bench-pushpin-"), dirs_exist_ok=True
        )
        print(f"    Pushpin's logs: {kept}", flush=True)


def feed_answers(base: str, kind: str = "open") -> float:
    """``livefeed_grip_answers`` for SSE readers opening (or *kind*: ``recover``, Pushpin asking
    a hold's next link), from feed's /metrics."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "livefeed_grip_answers"
        for sample in family.samples
        if sample.name.endswith("_total")
        and sample.labels.get("transport") == "sse"
        and sample.labels.get("kind") == kind
    )


def cpu_seconds(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each group (exact run time, bench.procstat.cpu_ns)."""
    return {name: cpu_ns(pids) / 1e9 for name, pids in groups.items()}


def socket_states(port: int) -> str:
    """TCP sockets to and from *port* by state, and its listen queue (``ss``): where readers
    that do not connect are stuck (SYN-SENT: the listener's backlog drops their SYNs)."""
    out = subprocess.run(
        ["ss", "-Htan", f"( sport = :{port} or dport = :{port} )"],
        capture_output=True, text=True, check=False, timeout=10,
    ).stdout  # fmt: skip
    states: dict[str, int] = {}
    listen = ""
    for line in out.splitlines():
        cols = line.split()
        if len(cols) < 5:
            continue
        side = "in" if cols[3].endswith(f":{port}") else "out"
        if cols[0] == "LISTEN":
            listen = f"listen queue {cols[1]}/{cols[2]}"
            continue
        key = f"{cols[0]} {side}"
        states[key] = states.get(key, 0) + 1
    return f"{listen}; " + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))


def diagnose(rig: Rig, path: str, pool: ClientPool) -> str:
    """What stuck readers wait on: socket states at the reader's port, Pushpin's log tail."""
    port = int(rig.url(path).split(":")[2].split("/")[0])
    text = (
        f"readers {pool.connected()} open, {pool.failed()} failed, {pool.retried()} retried, "
        f"{pool.closed_early()} closed early; sockets at :{port}: {socket_states(port)}"
    )
    if path == "pushpin":
        text += f"; feed sockets: {socket_states(rig.core.ports['feed'])}"
        text += f"\n{rig.pushpin.log_text()[-3000:]}"
    return text


def phase(rig: Rig, path: str, n: int, events: int, interval: float, label: str) -> dict[str, Any]:
    """N readers on *path*, *events* headlines POSTed one at a time: one result row."""
    groups = rig.groups()
    parts = rig.pushpin_parts()
    serving = ["push"] if path == "push" else ["pushpin", "feed", "publisher"]
    roots = [rig.core.pid("push")] if path == "push" else []
    if path == "pushpin":
        assert rig.pushpin.process is not None
        roots = [rig.pushpin.process.pid, rig.core.pid("feed"), rig.publisher.pid("grip-publisher")]
    rss0 = sum(tree_rss_kib(pid) for pid in roots)
    answers0 = feed_answers(rig.feed_base)
    recovers0 = feed_answers(rig.feed_base, "recover")
    cpu0 = cpu_seconds(groups)
    spec = ClientSpec(
        rig.url(path),
        protocol="sse",
        open_timeout=CONNECT_TIMEOUT_S,
        attempts=CONNECT_ATTEMPTS,
        reconnect=True,
    )
    pool = ClientPool(spec, n, 2)
    t0 = time.monotonic()
    pool.start()
    try:
        # Every reader opens or gives up within its attempts (each bounded): this bound is slack.
        limit = 30 + n / 50 + CONNECT_ATTEMPTS * (CONNECT_TIMEOUT_S + 5)
        if not pool.wait_connected(timeout_s=20 + n / 500):
            print(f"    slow: {diagnose(rig, path, pool)}", flush=True)
            pool.wait_connected(timeout_s=limit)
        if pool.connected() < n:
            raise RuntimeError(
                f"{path}: only {pool.connected()}/{n} readers connected after "
                f"{CONNECT_ATTEMPTS} attempts each: {diagnose(rig, path, pool)}"
            )
        connect_s = time.monotonic() - t0
        connected = pool.connected()
        retried = pool.retried()
        cpu1, settle0 = cpu_seconds(groups), time.monotonic()
        answers = feed_answers(rig.feed_base) - answers0
        time.sleep(1.0)  # the last holds settle; the connect burst's CPU stays out of the posts
        rss = sum(tree_rss_kib(pid) for pid in roots)
        # Pushpin's runner starts no new process meanwhile; feed and push neither.
        cpu = CpuMeters(**groups, clients=pool.pids)
        cpu.start()
        cpu2, settle = cpu_seconds(groups | parts), time.monotonic() - settle0
        wall0 = time.monotonic()
        print(f"{label} {path}: {connected:,} readers in {connect_s:.1f} s; POSTing {events} "
              f"headlines, one every {interval:g} s", flush=True)  # fmt: skip
        _took, failures = post_schedule(rig.core.ingest_url, events, 1 / interval)
        pool.wait_received(connected * events, timeout_s=15)
        wall = time.monotonic() - wall0
        pct = cpu.stop()
        cpu3 = cpu_seconds(groups | parts)
        results = pool.stop_and_collect()
    finally:
        pool.terminate()
    cpu_s = {name: cpu3[name] - cpu2[name] for name in groups | parts}
    serve_s = sum(cpu_s[name] for name in serving)
    row: dict[str, Any] = {"path": path, "n": n, "connected": connected, "connect_s": connect_s,
                           "events": events, "post_failures": failures}  # fmt: skip
    row |= delivery_metrics(results, events, connected)
    errors: dict[str, int] = {}
    for result in results:
        for kind, count in result.connect_errors.items():
            errors[kind] = errors.get(kind, 0) + count
    row["connect_errors"] = errors  # failed attempts, retried (each may have reached feed)
    row["connect_refused"] = sum(errors.values())
    row["connect_retries"] = sum(r.retries for r in results)  # failed attempts tried again
    row["reconnects"] = sum(r.reconnects for r in results)  # streams ended early, opened again
    row["retried_while_connecting"] = retried
    row["feed_recovers"] = feed_answers(rig.feed_base, "recover") - recovers0
    row.pop("slowest_per_event_ms", None)
    cores = serve_s / wall
    row |= {
        "wall_s": wall,
        "serve_cpu_s": serve_s,
        "serve_cpu_pct": 100 * cores,
        "cores_used": cores,
        "readers_per_core": connected / cores if cores else float("nan"),
        "cpu_us_per_frame": serve_s * 1e6 / row["received"] if row["received"] else float("nan"),
        "rss_per_reader_kib": (rss - rss0) / connected if connected else float("nan"),
        **{f"{name}_cpu_s": value for name, value in cpu_s.items()},
        "origin_cpu_ms_per_event": (cpu_s["feed"] + cpu_s["publisher"]) * 1000 / events,
        "feed_connect_cpu_us_per_reader": (cpu1["feed"] - cpu0["feed"]) * 1e6 / max(connected, 1),
        "feed_answers_per_reader": answers / max(connected, 1),
        # feed + publisher between the connects and the posts: what the origin spends idle
        "origin_idle_cpu_pct": 100 * sum(cpu2[k] - cpu1[k] for k in ("feed", "publisher")) / settle,
        "clients_cpu_pct": pct["clients"],
        "other_cpu_pct": pct["other"],
    }
    print(
        f"{label} {path}: POST->frame p50 {row['p50_ms']:.1f} p99 {row['p99_ms']:.1f} ms, lost "
        f"{row['lost']}, dup {row['duplicates']}; serving CPU {serve_s:.2f} s = "
        f"{row['readers_per_core']:,.0f} readers/core, {row['cpu_us_per_frame']:.1f} µs/frame; "
        f"origin {row['origin_cpu_ms_per_event']:.2f} ms CPU/event, feed "
        f"{row['feed_connect_cpu_us_per_reader']:.0f} µs/connect, "
        f"{row['feed_answers_per_reader']:.3f} answers/reader, connect errors {errors or 0}, "
        f"retries {row['connect_retries']}, reconnects {row['reconnects']}, "
        f"next-link recovers {row['feed_recovers']:.0f}",
        flush=True,
    )
    if path == "pushpin":
        split = ", ".join(f"{name[3:]} {cpu_s[name]:.2f}" for name in sorted(parts))
        print(f"{label} {path}: Pushpin CPU s by process: {split}", flush=True)
    return row


def run_once(
    ns: list[int], events: int, interval: float, flip: bool, label: str, paths: tuple[str, ...]
) -> list[dict[str, Any]]:
    """One run: one stack, every N ascending, each path at each (in *paths* order unless
    *flip*)."""
    rows = []
    order = paths[::-1] if flip else paths
    with bench_redis("always") as srv, rig(srv.url) as r:
        post_schedule(r.core.ingest_url, 3, 1 / interval, prefix="warmup")
        for n in sorted(ns):
            for path in order:
                rows.append(phase(r, path, n, events, interval, f"{label} N={n}"))
    return rows


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of the GRIP step."""
    p.add_argument("--n", default="500,2000,5000", help="readers per phase, comma-separated")
    p.add_argument("--events", type=int, default=30, help="headlines per phase")
    p.add_argument("--interval", type=float, default=0.25, help="seconds between headlines")
    p.add_argument(
        "--paths",
        default=",".join(PATHS),
        help="the phases at each N, comma-separated: push (readers on push), pushpin "
        "(readers through Pushpin)",
    )


def _ratio(a: float, b: float) -> float:
    """a / b (NaN when b is 0 or NaN)."""
    return a / b if b and b == b else float("nan")


def summarise(rows: list[dict[str, Any]], repeats: int) -> list[dict[str, Any]]:
    """Per (N, path): medians over the runs; for Pushpin, the ratios to push at that N."""
    out: list[dict[str, Any]] = []
    for n in sorted({r["n"] for r in rows}):
        by_path = {}
        for path in PATHS:
            mine = [r for r in rows if r["n"] == n and r["path"] == path]
            if not mine:
                continue
            s: dict[str, Any] = {"n": n, "path": path, "repeats": repeats}
            parts = sorted(set.intersection(*({k for k in r if k.startswith("pp_")} for r in mine)))
            s |= harness.medians(mine, [*NUMERIC, *parts])
            s["max_lost"] = max(r["lost"] for r in mine)
            s["max_duplicates"] = max(r["duplicates"] for r in mine)
            by_path[path] = s
        out += by_path.values()
        if "pushpin" not in by_path:
            continue
        nan = float("nan")  # --paths pushpin: no push row to compare with
        push, pp = by_path.get("push", {}), by_path["pushpin"]
        pp["p99_vs_push"] = _ratio(pp["p99_ms"], push.get("p99_ms", nan))
        pp["p50_vs_push"] = _ratio(pp["p50_ms"], push.get("p50_ms", nan))
        pp["readers_per_core_vs_push"] = _ratio(
            pp["readers_per_core"], push.get("readers_per_core", nan)
        )
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """``--repeats`` runs (the phases' order alternating); medians in ``summary``."""
    raise_nofile_limit()  # Pushpin and the client processes inherit it
    ns = [int(x) for x in str(args.n).split(",") if x.strip()]
    paths = tuple(x.strip() for x in str(args.paths).split(",") if x.strip())
    if not paths or set(paths) - set(PATHS):
        raise SystemExit(f"--paths: one or more of {', '.join(PATHS)}")
    runs: list[dict[str, Any]] = []
    for i in range(args.repeats):
        label = f"[grip {i + 1}/{args.repeats}]"
        runs += run_once(ns, args.events, args.interval, i % 2 == 1, label, paths)
    summary = summarise(runs, args.repeats)
    pp = [s for s in summary if s["path"] == "pushpin"]
    flat = (
        _ratio(pp[-1]["origin_cpu_ms_per_event"], pp[0]["origin_cpu_ms_per_event"])
        if pp
        else float("nan")
    )
    return {
        "summary": summary,
        "origin_flat_ratio": flat,
        "events": args.events,
        "interval_s": args.interval,
        "runs": runs,
    }


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "grip"))
