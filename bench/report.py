"""Build bench/RESULTS.md (and bench/fanout.png) from bench/results/*.json.

.venv/bin/python -m bench.report     # after any benchmark step, to refresh the page
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT
from bench.plot import plot_summary
from shared.metrics import STAGES

Json = dict[str, Any]


def _load(results: Path, step: str) -> Json | None:
    """A step's results, or None when it was not run or failed."""
    path = results / f"{step}.json"
    if not path.exists():
        return None
    result: Json = json.loads(path.read_text())
    return None if "error" in result else result


def _f(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(head), _row(["---"] * len(head)), *(_row(r) for r in rows), ""]


Columns = tuple[tuple[str, int, str], ...]
"""(field, digits, heading) per column of a table."""


def _columns(columns: Columns, rows: list[Json]) -> list[str]:
    """A table of *rows*, one column per (field, digits, heading); "-" where a field is missing."""
    cells = [[_f(r.get(key), digits) for key, digits, _ in columns] for r in rows]
    return _table([heading for _, _, heading in columns], cells)


FANOUT_COLUMNS: Columns = (
    ("variant", 1, "server"), ("n", 1, "N"), ("connected", 0, "connected"),
    ("p50_ms", 1, "p50 ms"), ("p99_ms", 1, "p99 ms"), ("max_ms", 1, "max ms"),
    ("reach_all_p50_ms", 1, "all reached ms"), ("lost", 0, "lost"),
    ("rss_per_conn_kib", 1, "RSS KiB/conn"), ("server_cpu_pct", 0, "server CPU %"),
    ("cpu_us_per_frame", 2, "server CPU µs/frame"),
    ("client_cpu_pct", 0, "clients CPU %"), ("other_cpu_pct", 0, "other CPU %"),
)  # fmt: skip
READERS_COLUMNS: Columns = (
    ("variant", 1, "server"), ("n", 1, "N"), ("connected", 0, "connected"),
    ("rss_per_reader_kib", 2, "RSS KiB/reader"),
    ("kernel_per_reader_kib", 2, "kernel slab KiB/reader (not in RSS)"),
    ("rss_base_mib", 1, "RSS before MiB"),
)  # fmt: skip
E2E_COLUMNS: Columns = (
    ("n", 1, "clients"), ("rate", 0, "articles/s"), ("p50_ms", 1, "p50 ms"),
    ("p99_ms", 1, "p99 ms"), ("max_ms", 1, "max ms"), ("max_lost", 0, "lost"),
    ("post_p99_ms", 1, "POST p99 ms"), ("ingest_cpu_pct", 0, "ingest CPU %"),
    ("worker_cpu_pct", 0, "worker CPU %"), ("push_cpu_pct", 0, "push CPU %"),
    ("other_cpu_pct", 0, "other CPU %"),
)  # fmt: skip
INGEST_COLUMNS: Columns = (
    ("label", 1, "requests"), ("articles_per_s", 0, "articles/s"),
    ("requests_per_s", 0, "requests/s"), ("p50_ms", 1, "p50 ms"), ("p99_ms", 1, "p99 ms"),
    ("other_answers", 0, "non-202"), ("ingest_cpu_pct", 0, "ingest CPU %"),
    ("other_cpu_pct", 0, "other CPU %"),
)  # fmt: skip
APPLY_COLUMNS: Columns = (
    ("name", 1, "worker"), ("batch", 1, "items per job"), ("fsync", 1, "appendfsync"),
    ("items_per_s", 0, "items/s"), ("jobs_per_s", 0, "jobs/s"), ("applied", 1, "all applied"),
)  # fmt: skip
RESUME_COLUMNS: Columns = (
    ("n", 1, "clients"), ("back", 1, "events back"), ("caught_up_s", 2, "all caught up (median) s"),
    ("worst_caught_up_s", 2, "worst s"), ("max_lost", 0, "lost"),
    ("max_duplicates", 0, "duplicates"), ("server_cpu_pct", 0, "push CPU %"),
    ("client_cpu_pct", 0, "clients CPU %"), ("other_cpu_pct", 0, "other CPU %"),
)  # fmt: skip


def _find(summary: list[Json], **match: Any) -> Json | None:
    for row in summary:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def _meta_line(result: Json) -> str:
    m = result.get("meta", {})
    return (
        f"_Measured {m.get('when', '?')} in {m.get('duration_s', 0) / 60:.1f} min; load average "
        f"{m.get('load_before', '?')} before, {m.get('load_after', '?')} after. "
        f"Command: `{m.get('command', '?')}`._"
    )


# Why a target falls short, as profiled (py-spy) on this 2-core machine; shown when it does.
WHY_SHORT = {
    "fanout": "with the machine busy (see other CPU) floor and livefeed fall behind alike; "
    "compare the ratios, and the quiet-machine baselines in shared/BASELINES.md",
    "e2e": "each article is one RQ job: about 5 Redis round trips of RQ bookkeeping, each "
    "waiting for an fsync (appendfsync always), plus the apply; the tail follows CPU contention",
    "ingest": "one ingest process spends ~0.6 ms CPU per single-article POST (py-spy: uvicorn "
    "and Starlette ~45% of its Python time, RQ's job building and the MULTI/EXEC ~25%, the "
    "stored-version check ~10%, validation ~3%) and gets at most one of the 2 cores, which it "
    "shares with the load generator and Redis; `LIVEFEED_INGEST_WORKERS=2` adds what the second "
    "core has left",
    "batch": "validating 100 articles (~20 us each), RQ's JSON + zlib job payload and the answer "
    "take one core per process; `LIVEFEED_INGEST_WORKERS=2` adds what the second core has left",
    "apply": "the Lua apply costs ~46 us per item in Redis (HMGET, HSET, ZADDs, XLEN, XADD), "
    "the worker re-validates each article (~37 us), and RQ adds fsync'd round trips per job: "
    "bigger jobs amortise RQ, the per-item cost stays",
    "reads": "a hit pays, per request, what `/healthz` does not (py-spy, 2026-12-06): the "
    "read-after-event fence (a Redis read shared by the requests that arrive meanwhile, ~4%), "
    "parsing the query into the view's key (~5%), routing past the other routes (~5%) and "
    "uvicorn checking and writing 1-2.4 KB of headers, the edge keys most of it, and the "
    "body (~10%); a response's header block is already made once per view. Not done: an "
    "ASGI path for hits ahead of Starlette's routing",
    "webpush": "the machine was shared (load average 7-11 on 2 cores while it ran): the notifier "
    "got ~22% of a core; re-run on a quiet machine",
    "fd_limit": "one process may hold at most `ulimit -Hn` = 20,000 descriptors here (the "
    "container forbids raising the hard limit), so N stops below 20,000; section 1c gives the "
    "per-reader breakdown that scales to 50,000",
    "grip": "Pushpin spends ~48 us of CPU per delivered frame (condure and pushpin-handler "
    "about half each) against push's ~7.5: on these 2 cores, shared with the readers' client "
    "processes, its fan-out of each headline takes ~6x the CPU time, and the publisher's hop "
    "(an HTTP POST to Pushpin) adds a few ms. Pushpin earns its place by holding readers on "
    "other machines or at a CDN's edge, where the origin's cost stays flat (the target above), "
    "not by being cheaper per reader than push on one box",
    "resume": "one push process writes 200 frames to each of 5,000 clients; the 2 client "
    "processes on the same 2 cores parse a million frames meanwhile",
}


class Targets:
    """The target table: one line per target, filled as sections are rendered."""

    def __init__(self) -> None:
        self.rows: list[list[str]] = []

    def add(self, target: str, figure: str, ok: bool | None, note: str = "", why: str = "") -> None:
        """One target; ok None means not measured; *why* (a WHY_SHORT key) shown when short."""
        verdict = "not measured" if ok is None else ("**met**" if ok else "**short**")
        if ok is False and why:
            note = f"{note}; short because {WHY_SHORT[why]}" if note else WHY_SHORT[why]
        self.rows.append([target, figure, verdict, note])


def _ratio(a: Any, b: Any) -> float | None:
    """a / b, or None when either is missing (a step or a variant not run)."""
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return None
    if not b or math.isnan(a) or math.isnan(b):
        return None
    return float(a) / float(b)


def _fanout_section(result: Json, title: str, out: list[str]) -> list[Json]:
    summary: list[Json] = result["summary"]
    out += [f"## {title}", "", _meta_line(result), ""]
    out += _columns(FANOUT_COLUMNS, sorted(summary, key=lambda r: (r["n"], r["variant"])))
    ratios = []
    for n in sorted({s["n"] for s in summary}):
        floor, live = _find(summary, variant="floor", n=n), _find(summary, variant="livefeed", n=n)
        sio = _find(summary, variant="socketio", n=n)
        lf = _ratio(live and live["p99_ms"], floor and floor["p99_ms"])
        lfa = _ratio(live and live["reach_all_p50_ms"], floor and floor["reach_all_p50_ms"])
        sl = _ratio(sio and sio["p99_ms"], live and live["p99_ms"])
        ratios.append([_f(n), _f(lf, 2), _f(lfa, 2), _f(sl, 1)])
    heads = ["N", "livefeed p99 / floor p99", "livefeed all-reached / floor",
             "socketio p99 / livefeed p99"]  # fmt: skip
    out += _table(heads, ratios)
    return summary


def _fanout_targets(
    summary: list[Json], one_per_s: list[Json] | None, runs: list[Json], t: Targets
) -> None:
    floor5, live5 = (
        _find(summary, variant="floor", n=5000),
        _find(summary, variant="livefeed", n=5000),
    )
    sio5 = _find(summary, variant="socketio", n=5000)
    r = _ratio(live5 and live5["p99_ms"], floor5 and floor5["p99_ms"])
    t.add(
        "N=5,000 at 10/s: livefeed p99 <= 0.9x the bare-broadcast floor (same run)",
        f"{_f(live5 and live5['p99_ms'])} ms vs {_f(floor5 and floor5['p99_ms'])} ms = {_f(r, 2)}x",
        None if r is None else r <= 0.9,
        why="fanout",
    )
    lost5 = [r["lost"] for r in runs if r["variant"] == "livefeed" and r["n"] == 5000]
    t.add(
        "N=5,000 at 10/s: 0 lost",
        f"{_f(max(lost5), 0) if lost5 else '-'} lost (worst of {len(lost5)} runs)",
        None if not lost5 else max(lost5) == 0,
        why="fanout",
    )
    s = _ratio(sio5 and sio5["p99_ms"], live5 and live5["p99_ms"])
    t.add(
        "N=5,000 at 10/s: >= 10x faster than python-socketio (p99)",
        f"{_f(sio5 and sio5['p99_ms'])} ms / {_f(live5 and live5['p99_ms'])} ms = {_f(s, 1)}x",
        None if s is None else s >= 10,
    )
    t.add(
        "CPU per delivered frame, push alone (N=5,000 at 10/s)",
        f"{_f(live5 and live5.get('cpu_us_per_frame'), 2)} µs "
        f"(floor {_f(floor5 and floor5.get('cpu_us_per_frame'), 2)} µs)",
        None if live5 is None or live5.get("cpu_us_per_frame") is None else True,
        "server CPU time over the publish period (pings and all) / frames delivered",
    )
    live10 = _find(one_per_s or [], variant="livefeed", n=10000)
    floor10 = _find(one_per_s or [], variant="floor", n=10000)
    a = _ratio(live10 and live10["reach_all_p50_ms"], floor10 and floor10["reach_all_p50_ms"])
    t.add(
        "10,000 clients at 1/s: all reached within 1.5x of the floor",
        f"{_f(live10 and live10['reach_all_p50_ms'])} ms vs "
        f"{_f(floor10 and floor10['reach_all_p50_ms'])} ms = {_f(a, 2)}x",
        None if a is None else a <= 1.5 and live10 is not None and live10["lost"] == 0,
        "all reached = per headline, the time until the last client had it; median over headlines",
        why="fanout",
    )
    most = max((r["n"] for r in one_per_s or [] if r["variant"] == "livefeed"), default=None)
    big = _find(one_per_s or [], variant="livefeed", n=most) if most else None
    reached = big is not None and big["lost"] == 0 and big["connected"] >= 50_000
    t.add(
        "50,000 readers on one push process at 1/s: every headline reaches all, 0 lost",
        f"{_f(big and big['connected'], 0)} readers: all reached p99 "
        f"{_f(big and big['reach_all_p99_ms'])} ms, lost {_f(big and big['lost'], 0)}",
        None if big is None else reached,
        why="fd_limit" if big is not None and big["connected"] < 50_000 else "",
    )


def _readers_targets(result: Json | None, t: Targets) -> None:
    summary: list[Json] = result["summary"] if result else []
    rows = sorted(
        (r for r in summary if r["variant"] == "livefeed"), key=lambda r: r["n"]
    )  # fmt: skip
    floor = {r["n"]: r for r in summary if r["variant"] == "floor"}
    for wanted in (10_000, 50_000):
        row = next((r for r in rows if r["n"] >= wanted), rows[-1] if rows else None)
        if row is None:
            t.add(f"RSS per reader <= 8 KiB at {_f(wanted)} readers", "-", None)
            continue
        base = floor.get(row["n"])
        figure = (
            f"{_f(row['rss_per_reader_kib'], 2)} KiB/reader at {_f(row['connected'], 0)} "
            f"(floor {_f(base and base['rss_per_reader_kib'], 2)} KiB)"
        )
        ok = row["rss_per_reader_kib"] <= 8 and row["connected"] >= wanted
        t.add(
            f"RSS per reader <= 8 KiB at {_f(wanted)} readers",
            figure,
            ok,
            why="fd_limit" if row["connected"] < wanted else "",
        )


def _many_section(result: Json | None, out: list[str], t: Targets) -> None:
    """100,000 readers over several push processes (bench.many)."""
    target = "100,000 readers on this machine (several push processes): every headline to all"
    if not result:
        t.add(target, "-", None)
        return
    s = result["summary"]
    out += [f"## 1d. {_f(s['readers'], 0)} readers on {_f(s['processes'], 0)} push processes, "
            f"one headline every {_f(s['every_s'], 0)} s", "", _meta_line(result), ""]  # fmt: skip
    rows = [
        ["readers connected (client count)", _f(s["connected"], 0)],
        ["connect time (1 client process per push process)", f"{_f(s['connect_s'], 0)} s"],
        ["headlines", _f(s["headlines"], 0)],
        ["frames received / expected", f"{_f(s['received'], 0)} / {_f(s['expected'], 0)}"],
        ["lost / duplicated / out of order (worst run)",
         f"{_f(s['max_lost'], 0)} / {_f(s['max_duplicates'], 0)} / 0"],
        ["POST -> frame p50 / p99", f"{_f(s['p50_ms'], 0)} / {_f(s['p99_ms'], 0)} ms"],
        ["all readers reached, per headline, p50", f"{_f(s['reach_all_p50_ms'], 0)} ms"],
        ["push RSS per reader (all processes' gain / readers)",
         f"{_f(s['rss_per_reader_kib'], 2)} KiB"],
        ["push CPU per delivered frame", f"{_f(s['cpu_us_per_frame'], 2)} µs"],
        ["push CPU during the posts (100 = one core)", f"{_f(s['push_cpu_pct'], 0)} %"],
    ]  # fmt: skip
    out += _table(["measure", "figure"], rows)
    out += [
        "Each push process on a port of its own (one client process per push process, each "
        "from its own loopback address), the embedded Redis with `appendfsync always`, ingest "
        "and one worker; a client counts a headline it gets twice or out of order as a "
        "duplicate. Latency is from just before the POST, so it includes the fan-out of "
        "every earlier reader on the same 2 cores: the last of 100,000 readers is reached "
        "when ~100,000 frames have been written and read.",
        "",
    ]
    t.add(
        target,
        f"{_f(s['connected'], 0)} readers, {_f(s['processes'], 0)} processes: all reached "
        f"p50 {_f(s['reach_all_p50_ms'], 0)} ms, lost {_f(s['max_lost'], 0)}; "
        f"{_f(s['rss_per_reader_kib'], 2)} KiB/reader, {_f(s['cpu_us_per_frame'], 2)} µs/frame",
        s["connected"] >= 100_000 and s["max_lost"] == 0 and s["max_duplicates"] == 0,
    )


GRIP_COLUMNS: Columns = (
    ("n", 0, "N"), ("path", 1, "readers on"), ("connected", 0, "connected"),
    ("connect_refused", 0, "connects refused (retried)"),
    ("connect_retries", 0, "connect retries"), ("reconnects", 0, "streams reopened"),
    ("p50_ms", 1, "POST->frame p50 ms"), ("p99_ms", 1, "p99 ms"),
    ("reach_all_p50_ms", 1, "all reached ms"), ("max_lost", 0, "lost"),
    ("serve_cpu_pct", 1, "serving CPU %"), ("readers_per_core", 0, "readers/core"),
    ("cpu_us_per_frame", 1, "µs CPU/frame"), ("rss_per_reader_kib", 1, "RSS KiB/reader"),
    ("origin_cpu_ms_per_event", 2, "origin ms CPU/event"),
    ("origin_idle_cpu_pct", 1, "origin idle CPU %"),
    ("feed_connect_cpu_us_per_reader", 0, "feed µs CPU/connect"),
    ("feed_answers_per_reader", 2, "feed answers/reader"), ("other_cpu_pct", 0, "other CPU %"),
)  # fmt: skip
GRIP_P99_N = 2000  # the N the latency target is read at (the nearest measured N otherwise)


def _grip_section(result: Json | None, out: list[str], t: Targets) -> None:
    """SSE readers through a real Pushpin against push's own, one run (bench.grip)."""
    flat_target = "GRIP origin CPU per event flat as readers grow (<= 1.5x, smallest to largest N)"
    p99_target = (
        f"POST -> frame p99 through Pushpin <= 2x push's at {GRIP_P99_N:,} readers (same run)"
    )
    once_target = (
        "through Pushpin every reader gets every headline, the origin asked once per reader"
    )
    if not result:
        for target in (flat_target, p99_target, once_target):
            t.add(target, "-", None)
        return
    rows: list[Json] = result["summary"]
    pp = [r for r in rows if r["path"] == "pushpin"]
    every = _f(result["interval_s"], 2)
    title = f"## 1e. GRIP: SSE readers through Pushpin against push, a headline every {every} s"
    out += [title, "", _meta_line(result), ""]
    out += _columns(GRIP_COLUMNS, rows)
    ratios = [
        f"N={r['n']:,}: p99 {_f(r['p99_vs_push'], 2)}x, p50 {_f(r['p50_vs_push'], 2)}x, "
        f"readers per core {_f(r['readers_per_core_vs_push'], 2)}x"
        for r in pp
    ]
    last = pp[-1]
    split = ", ".join(
        f"{key[3:-6].replace('_', '-')} {_f(value, 2)} s"
        for key, value in sorted(last.items(), key=lambda kv: str(kv[0]))
        if key.startswith("pp_") and key.endswith("_cpu_s")
    )
    out += [
        "Pushpin against push in the same run: " + "; ".join(ratios) + ".",
        "",
        f"Pushpin's CPU while posting at N={last['n']:,}, by process: {split or '-'}.",
        "",
        "One stack per run (embedded Redis with `appendfsync always`, ingest, worker, push, "
        "feed with `LIVEFEED_GRIP=1` and a `LIVEFEED_GRIP_KEY`, `livefeed grip-publisher`, "
        "Debian's Pushpin with deploy/pushpin's config and routes, `message_rate` raised, "
        "signing every request to feed); at each N, N SSE readers (`GET /v1/events`, no "
        "filter: one channel) from 2 client processes on push's port, then N on Pushpin's "
        f"(the order alternates between runs), and {result['events']} headlines POSTed to "
        "ingest one at a time in each phase. POST -> frame is from just before the POST to "
        "the reader parsing the frame: ingest, worker, and then push's fan-out, or the "
        "publisher's POST to Pushpin and Pushpin's fan-out. *Serving CPU*: the processes "
        "that deliver, while posting (exact thread run time from /proc): push alone, or "
        "Pushpin's runner and every process it starts (condure, zurl, pushpin-proxy, "
        "pushpin-handler) + feed + the publisher. *Readers/core* = N / (serving CPU seconds "
        "/ wall seconds): the readers one core serves at this event rate, keep-alives and "
        "all (it scales with 1 / the rate: at r headlines/s, about 1e6 / (µs CPU/frame x r)). "
        "*Origin CPU/event* = (feed + publisher) CPU while posting / headlines: it includes "
        "the publisher's idle polling and feed's own per-event work, which it does without "
        "GRIP too (the push rows show both with no reader on Pushpin; *origin idle CPU* is "
        "feed + publisher in the second between the connects and the posts). *Feed "
        "CPU/connect* = "
        "feed's CPU while the N readers connected / N; *feed answers/reader* is feed's "
        "`livefeed_grip_answers{transport=sse,kind=open}` over the same time / N; *connects "
        "refused*: connection attempts answered with an error (the run's JSON has them by "
        "status); *connect retries*: attempts tried again (an error, or no answer's head "
        "within 10 s, TCP connect included: each reader tries 5 times, and the step fails "
        "only if a reader never opens); *streams reopened*: streams the server ended early, "
        "opened again from their Last-Event-ID as a browser's EventSource does. RSS per "
        "reader: the serving processes' RSS gain / N.",
        "",
    ]
    first = pp[0]
    flat = _ratio(last["origin_cpu_ms_per_event"], first["origin_cpu_ms_per_event"])
    t.add(
        flat_target,
        f"{_f(first['origin_cpu_ms_per_event'], 2)} ms at N={first['n']:,}, "
        f"{_f(last['origin_cpu_ms_per_event'], 2)} ms at N={last['n']:,}: {_f(flat, 2)}x",
        None if flat is None or len(pp) < 2 else flat <= 1.5,
    )
    at = min(pp, key=lambda r: abs(r["n"] - GRIP_P99_N))
    push = _find(rows, n=at["n"], path="push") or {}
    t.add(
        p99_target,
        f"p99 {_f(at['p99_ms'])} ms vs {_f(push.get('p99_ms'))} ms = {_f(at['p99_vs_push'], 2)}x",
        at["p99_vs_push"] <= 2.0,
        note="" if at["n"] == GRIP_P99_N else f"measured at N={at['n']:,}",
        why="grip",
    )
    answers = max(r["feed_answers_per_reader"] for r in pp)
    clean = all(r["max_lost"] == 0 and r["max_duplicates"] == 0 for r in pp)
    t.add(
        once_target,
        f"lost {max(r['max_lost'] for r in pp)}, repeated {max(r['max_duplicates'] for r in pp)}"
        f"; feed answers per reader <= {_f(answers, 2)}",
        clean and answers <= 1.01,
    )


def _readers_section(result: Json, out: list[str]) -> None:
    summary: list[Json] = result["summary"]
    out += [
        "## 1c. Memory per connected reader, and where it goes",
        "",
        _meta_line(result),
        "",
        *_columns(READERS_COLUMNS, sorted(summary, key=lambda r: (r["n"], r["variant"]))),
        "RSS/reader = (server RSS with N idle readers - before) / N: what the process pays. "
        "Kernel = the slab objects behind the server's end of each connection (TCP socket, "
        "inode, file, dentry, epoll entry; /proc/slabinfo, halved since both ends are in this "
        "kernel): real memory, but in no process's RSS. One process may open "
        f"{_f(result.get('fd_limit'), 0)} files here (`ulimit -Hn`, not raisable in this "
        "container), which caps N.",
        "",
    ]
    for row in summary:
        python = row.get("python_per_reader")
        if python:
            cells = [[name, _f(size, 0)] for name, size in python.items()]
            out += [
                f"Python allocations per reader (tracemalloc, push under "
                f"`bench/push_traced.py`, N={_f(row['n'])}; uvloop's C transport is counted "
                "under asyncio/runners.py, where the loop runs):",
                "",
                *_table(["allocated in", "bytes per reader"], cells),
            ]


STALLED_COLUMNS: Columns = (
    ("stalled", 0, "stalled readers"), ("p50_ms", 1, "p50 ms"), ("p99_ms", 1, "p99 ms"),
    ("max_ms", 1, "max ms"), ("p99_ratio", 2, "p99 / none stalled"),
    ("max_lost", 0, "lost (worst run)"), ("cut_off", 0, "cut off (1008)"),
    ("cut_off_s", 1, "cut off after s"), ("rss_connected_mib", 1, "push RSS before MiB"),
    ("rss_after_mib", 1, "after MiB"), ("server_cpu_pct", 0, "server CPU %"),
    ("other_cpu_pct", 0, "other CPU %"),
)  # fmt: skip


def _stalled_section(result: Json, out: list[str], t: Targets) -> None:
    summary: list[Json] = result["summary"]
    rows = [
        s if s["all_cut_off"] else {**s, "cut_off": f"{_f(s['cut_off'], 0)} (**not in every run**)"}
        for s in summary
    ]
    out += [
        f"## 6. Slow readers: stalled readers among {_f(result['n'])} that read",
        "",
        _meta_line(result),
        "",
        *_columns(STALLED_COLUMNS, rows),
        f"`livefeed push` with {_f(result['n'])} listening clients and one "
        f"{result['headline_bytes']:,} B headline (a {result['summary_bytes']:,} B summary) "
        f"every {result['interval_ms']:.0f} ms, {result['events']} headlines per run; in the "
        "same run with each number of *stalled readers* above: raw sockets with a 4 KiB "
        "receive buffer that open `/v1/stream` before publishing starts and never read again. "
        "Latency and losses are the listening clients'. RSS is push's once the clients "
        "connected and after the run. *Cut off* and *after s* (from connecting the stalled "
        "readers to the last of them being closed) come from push's `/metrics` "
        "(`livefeed_push_slow_clients_closed_total`, scraped every 200 ms in every scenario). "
        "p99 of each run, in run order (other CPU: the rest of the machine): "
        + "; ".join(
            f"{s['stalled']} stalled: "
            + ", ".join(
                f"{_f(r['p99_ms'])} ms ({_f(r['other_cpu_pct'], 0)}%)"
                for r in result["runs"]
                if r["stalled"] == s["stalled"]
            )
            for s in summary
        )
        + ".",
        "",
        f"Push runs with `LIVEFEED_CLIENT_BUFFER_BYTES={result['buffer_bytes']}` (the default "
        "is 256 KiB), so that a stalled reader overruns it within the run and before the 20 s "
        "keepalive ping would close it anyway: the kernel send buffer takes about twice the "
        "limit, past half of it push holds the reader's frames (coalesced), and once unsent + "
        "held bytes pass the limit it closes the reader with 1008. The default takes about 4x "
        "the bytes, so 4x the time at this rate. Every headline is a new article, so nothing "
        "is coalesced here: coalescing replaces a held change of the same article.",
        "",
    ]
    base, one = _find(summary, stalled=0), _find(summary, stalled=1)
    r: float | None = one["p99_ratio"] if one else None
    t.add(
        "1 stalled reader among 1,000: the others' p99 within 1.5x of none (same run), "
        "0 lost, the stalled one cut off (1008)",
        f"{_f(one and one['p99_ms'])} ms vs {_f(base and base['p99_ms'])} ms = {_f(r, 2)}x, "
        f"lost {_f(one and one['max_lost'])}, cut off after {_f(one and one['cut_off_s'])} s",
        None
        if one is None or base is None or r is None
        else r <= 1.5 and one["max_lost"] == 0 and one["all_cut_off"],
    )


def _reads_section(result: Json, out: list[str], t: Targets) -> None:
    summary: list[Json] = result["summary"]
    spike: Json = result["spike"]
    rows = [
        [s["where"], f"`{s['path']}`", _f(s["rps"], 0), _f(s["p99_ms"]), f"{s['ratio']:.0%}"]
        for s in summary
    ]
    out += [
        "## Reads: the page, timeline, fragment and feeds against the HTTP floor",
        "",
        _meta_line(result),
        "",
        *_table(["served by", "path", "req/s", "p99 ms", "of the floor"], rows),
        f"wrk (Debian's), {result['connections']} connections, {result['seconds']:.0f} s per "
        f"path, {result['headlines']} headlines; one feed process (`/healthz` is its floor, "
        "measured in the same run), a real `varnishd` with deploy/varnish/default.vcl in front "
        "of it (hits), and `LIVEFEED_FEED_WORKERS=2` against its own floor. The feed serves "
        "each view from memory while the timeline is unchanged (services/feed/readcache.py); "
        "every request still waits for one shared Redis read that proves the view current.",
        "",
        f"**Spike**: wrk paced at {_f(result['spike_rate'], 0)} page loads/s on `/` through "
        f"Varnish while {result['posts_per_s']:.0f} headlines/s were posted (the purger "
        f"purging Varnish): {_f(spike['page_rps'], 0)} pages/s served, page p99 "
        f"{_f(spike['page_p99_ms'])} ms, hit ratio {spike['hit_ratio']:.1%}, errors "
        f"{_f(spike['page_errors'], 0)}; freshness (POST -> the new headline in a page Varnish "
        f"serves) p50 {_f(spike['fresh_p50_ms'], 0)} ms, p99 {_f(spike['fresh_p99_ms'], 0)} ms.",
        "",
    ]

    def find(where: str, path: str) -> Json | None:
        return _find(summary, where=where, path=path)

    page, timeline = find("origin", "/"), find("origin", "/v1/timeline?limit=20")
    rss, fragment = find("origin", "/feed.rss"), find("origin", "/v1/fragment")
    two_page = find("2 feed workers", "/")
    two_timeline = find("2 feed workers", "/v1/timeline?limit=20")
    if page and timeline:
        t.add(
            "`/` and `/v1/timeline?limit=20` >= 50% of the /healthz floor, p99 <= 20 ms",
            f"{page['ratio']:.0%} and {timeline['ratio']:.0%}; p99 {_f(page['p99_ms'])} and "
            f"{_f(timeline['p99_ms'])} ms",
            min(page["ratio"], timeline["ratio"]) >= 0.5
            and max(page["p99_ms"], timeline["p99_ms"]) <= 20,
            why="reads",
        )
    if page and timeline:
        t.add(
            "`/` and `/v1/timeline?limit=20` >= 0.9x the /healthz floor (same process, same run)",
            f"{page['ratio']:.2f}x and {timeline['ratio']:.2f}x",
            min(page["ratio"], timeline["ratio"]) >= 0.9,
            why="reads",
        )
    if rss and fragment:
        t.add(
            "`/feed.rss` and `/v1/fragment` >= 40% of the floor",
            f"{rss['ratio']:.0%} and {fragment['ratio']:.0%}",
            min(rss["ratio"], fragment["ratio"]) >= 0.4,
            why="reads",
        )
    if two_page and two_timeline:
        t.add(
            "`LIVEFEED_FEED_WORKERS=2`: the floor ratio holds on 2 processes",
            f"`/` {two_page['ratio']:.0%}, timeline {two_timeline['ratio']:.0%} of their floor",
            min(two_page["ratio"], two_timeline["ratio"]) >= 0.5,
            why="reads",
        )
    t.add(
        "spike: 5,000 page loads/s through Varnish with 2 headlines/s posted",
        f"{_f(spike['page_rps'], 0)}/s, p99 {_f(spike['page_p99_ms'])} ms, hits "
        f"{spike['hit_ratio']:.1%}; fresh p50 {_f(spike['fresh_p50_ms'], 0)} ms, "
        f"p99 {_f(spike['fresh_p99_ms'], 0)} ms",
        spike["page_rps"] >= 0.95 * result["spike_rate"] and spike["fresh_p99_ms"] <= 2000,
    )


README_START = "<!-- bench:targets:start -->"
README_END = "<!-- bench:targets:end -->"


def _stages_section(result: Json | None, out: list[str], t: Targets) -> None:
    """POST -> frame stage by stage at 2,000 readers, against the bare broadcast (bench.stages)."""
    target = "POST -> frame p99 <= 1.5x the bare broadcast at 2,000 readers (same run)"
    if not result:
        t.add(target, "-", None)
        return
    s = result["summary"]
    out += [f"## 2b. Where the time goes: POST -> frame at {s['n']:,} readers, stage by stage",
            "", _meta_line(result), ""]  # fmt: skip
    rows = [[name, _f(q["p50_ms"], 2), _f(q["p99_ms"], 2), STAGES.get(name, READ_STAGE)]
            for name, q in s["stages"].items()]  # fmt: skip
    out += _table(["stage", "p50 ms", "p99 ms", "what"], rows)
    ratio = s["ratio_p99"]
    out += [
        f"POST -> frame: p50 {_f(s['p50_ms'])} ms, p99 {_f(s['p99_ms'])} ms, lost "
        f"{_f(s['max_lost'], 0)}; the bare broadcast (XADD -> frame, same readers): p50 "
        f"{_f(s['floor_p50_ms'])} ms, p99 {_f(s['floor_p99_ms'])} ms; ratio of p99s "
        f"{_f(ratio, 2)}x (the median of the rounds' ratios). One headline at a time "
        f"({s['events']} per round); each stage's figures come from the histograms "
        "`livefeed_stage_seconds{stage}` scraped before and after, medians over the rounds.",
        "",
    ]
    t.add(
        target,
        f"p99 {_f(s['p99_ms'])} ms vs {_f(s['floor_p99_ms'])} ms = {_f(ratio, 2)}x",
        ratio <= 1.5 and s["max_lost"] == 0,
    )


READ_STAGE = (
    "POST -> frame p50 less the stages before the fan-out: from its start to the median "
    "reader having the frame (part of the write loop, the kernel, the client's read)"
)


def update_readme(readme: Path, table: list[str], when: str) -> bool:
    """Replace the block between the README's bench markers with *table*; False if no markers."""
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    block = [README_START, f"_From `make bench`, {when}; details in bench/RESULTS.md._", "", *table]
    readme.write_text(text[:start] + "\n".join(block).rstrip() + "\n" + text[end:])
    return True


def write_report(results: Path, md_path: Path, png_path: Path, readme: Path | None = None) -> None:
    """Render RESULTS.md (and the plot when fan-out results exist); refresh README's table."""
    machine = (
        json.loads((results / "machine.json").read_text())
        if (results / "machine.json").exists()
        else {}
    )
    out: list[str] = []
    t = Targets()
    fan = _load(results, "fanout")
    fan1 = _load(results, "fanout1s")
    sections: list[str] = []
    summary: list[Json] = []
    summary1: list[Json] | None = None
    if fan:
        summary = _fanout_section(fan, "1. Fan-out: one ~300 B headline every 100 ms", sections)
        sections += [
            "Latency = client receive time - the time the headline was written to Redis (XADD). "
            "*All reached*: per headline, the time until the last client had it (median over "
            "headlines). RSS/conn = (server RSS with N connected - before) / N. *other CPU* is "
            "the rest of the machine during the run (100 = one core): high means noise.",
            "",
            "![p99 latency and RSS per connection against N](fanout.png)",
            "",
        ]
        note = (
            f"{machine.get('cores', '?')} cores, {machine.get('cpu_model', '')}; "
            f"medians of {summary[0]['repeats']} runs; RSS also from the 1/s and readers runs"
        )
    if fan1:
        summary1 = _fanout_section(fan1, "1b. The most clients, one headline per second", sections)
    if fan or fan1:
        _fanout_targets(summary, summary1, fan["runs"] if fan else [], t)
    else:
        t.add("fan-out targets", "-", None)
    readers = _load(results, "readers")
    _readers_targets(readers, t)
    if readers:
        _readers_section(readers, sections)
    _many_section(_load(results, "many"), sections, t)
    _grip_section(_load(results, "grip"), sections, t)
    if fan:
        rss_rows = [*summary, *(summary1 or []), *(readers["summary"] if readers else [])]
        plot_summary(summary, png_path, note, rss_rows)

    e = _load(results, "e2e")
    if e:
        s = e["summary"]
        sections += [
            "## 2. End-to-end freshness: POST -> frame at the client",
            "",
            _meta_line(e),
            "",
        ]
        sections += _columns(E2E_COLUMNS, [s])
        sections += [
            "Real processes: embedded Redis with `appendfsync always`, `livefeed ingest`, "
            "`livefeed worker`, `livefeed push`, all with `LIVEFEED_LOG_LEVEL=WARNING`. "
            "Latency = client receive time - the time just before the POST was sent.",
            "",
        ]
        t.add(
            "POST -> client p99 <= 50 ms at 20/s with 1,000 clients",
            f"p99 {_f(s['p99_ms'])} ms (p50 {_f(s['p50_ms'])} ms), lost {_f(s['max_lost'], 0)}",
            s["p99_ms"] <= 50 and s["max_lost"] == 0,
            why="e2e",
        )
    else:
        t.add("POST -> client p99 <= 50 ms", "-", None)

    _stages_section(_load(results, "stages"), sections, t)

    ing = _load(results, "ingest")
    if ing:
        sections += [
            "## 3. Ingest: accepted articles/s, 50 concurrent posters",
            "",
            _meta_line(ing),
            "",
        ]
        rows = []
        two = ing.get("workers2", {})  # results from before LIVEFEED_INGEST_WORKERS lack it
        for key, label in (("single", "1 article per POST"), ("batch100", "100 articles per POST")):
            for processes, run in (("1 process", ing[key]), ("2 workers", two.get(key))):
                if run is not None:
                    rows.append({**run["summary"], "label": f"{label}, {processes}"})
        sections += _columns(INGEST_COLUMNS, rows)
        sections += [
            "`livefeed ingest` alone (no worker: accepting, not applying) on the embedded Redis "
            "with `appendfsync always`, run with `LIVEFEED_LOG_LEVEL=WARNING` (at the default "
            "INFO it logs one line per request) and `LIVEFEED_INGEST_RATE_LIMIT=0` (the default "
            "6,000 requests per token per minute would hold one token to 100/s). The load is a "
            "separate process: 50 keep-alive HTTP/1.1 connections on one uvloop loop, each "
            "posting as soon as the last answer came; *other CPU* includes that load process "
            "and Redis. *2 workers* is `LIVEFEED_INGEST_WORKERS=2`: two ingest processes "
            "accepting on one port (one per core, sharing the 2 cores with the load and Redis); "
            "1-process and 2-worker runs alternate, so both meet the same machine.",
            "",
        ]
        for key, target, floor, why in (
            ("single", "ingest single POSTs >= 1,500/s", 1500, "ingest"),
            ("batch100", "ingest batches of 100 >= 10,000 articles/s", 10000, "batch"),
        ):
            one = ing[key]["summary"]
            figure = f"{_f(one['articles_per_s'], 0)}/s, p99 {_f(one['p99_ms'])} ms (1 process)"
            best = one["articles_per_s"]
            if key in two:
                w2 = two[key]["summary"]
                figure += (
                    f"; {_f(w2['articles_per_s'], 0)}/s, p99 {_f(w2['p99_ms'])} ms "
                    "(`LIVEFEED_INGEST_WORKERS=2`)"
                )
                best = max(best, w2["articles_per_s"])
            note = ""
            if best >= floor and one["articles_per_s"] < floor:
                note = f"met with 2 ingest workers only; 1 process is short: {WHY_SHORT[why]}"
            t.add(target, figure, best >= floor, note=note, why=why)
    else:
        t.add("ingest targets", "-", None)

    ap = _load(results, "apply")
    if ap:
        sections += ["## 4. Apply: items/s one worker applies", "", _meta_line(ap), ""]
        names = {
            "simple": "livefeed worker (RQ SimpleWorker)",
            "fork": "RQ Worker (fork per job)",
            "lua": "no RQ: Lua apply in a loop (floor)",
        }
        sections += _columns(
            APPLY_COLUMNS,
            [
                {
                    **s,
                    "name": names[s["worker"]],
                    "applied": "yes" if s["all_applied"] else "**no**",
                }
                for s in ap["summary"]
            ],
        )
        costs = []
        for kind in ("lua", "simple"):
            fast = _find(ap["summary"], worker=kind, batch=100, fsync="no")
            slow = _find(ap["summary"], worker=kind, batch=100, fsync="always")
            mid = _find(ap["summary"], worker=kind, batch=100, fsync="everysec")
            costs.append(
                f"{names[kind]}, jobs of 100: `no` is "
                f"{_f(_ratio(fast and fast['items_per_s'], slow and slow['items_per_s']), 2)}x "
                f"and `everysec` "
                f"{_f(_ratio(mid and mid['items_per_s'], slow and slow['items_per_s']), 2)}x "
                "as fast as `always`"
            )
        sections += [
            "Jobs are enqueued exactly as ingest does; the worker drains the queue in burst "
            "mode in its own process. The cost of durability (`appendfsync always`, what "
            "`livefeed up` runs: an item is on disk before ingest answers 202 and before its "
            "event is pushed): " + "; ".join(costs) + ".",
            "",
        ]
        best = _find(ap["summary"], worker="simple", batch=100, fsync="always")
        big = _find(ap["summary"], worker="simple", batch=500, fsync="always")
        t.add(
            "one worker applies >= 5,000 items/s",
            f"{_f(best and best['items_per_s'], 0)} items/s with jobs of 100, "
            f"{_f(big and big['items_per_s'], 0)} with jobs of 500 (appendfsync always)",
            None if best is None else best["items_per_s"] >= 5000,
            why="apply",
        )
    else:
        t.add("one worker applies >= 5,000 items/s", "-", None)

    rs = _load(results, "resume")
    if rs:
        s = rs["summary"]
        sections += ["## 5. Resume storm", "", _meta_line(rs), ""]
        sections += _columns(RESUME_COLUMNS, [s])
        sections += [
            "A push process started after the events were written (as after a restart); all "
            "clients open `/v1/stream?since=<id>` at the same instant; time from that instant "
            "until the last client has all events; each client checks order, gaps and repeats.",
            "",
        ]
        t.add(
            f"resume storm ({_f(s['n'])} clients, {s['back']} back) <= 5 s, no duplicate, no loss",
            f"{_f(s['caught_up_s'], 2)} s (worst {_f(s['worst_caught_up_s'], 2)} s), "
            f"lost {s['max_lost']}, duplicates {s['max_duplicates']}",
            s["caught_up_s"] <= 5 and s["max_lost"] == 0 and s["max_duplicates"] == 0,
            why="resume",
        )
    else:
        t.add("resume storm <= 5 s", "-", None)

    wp = _load(results, "webpush")
    if wp and "summary" in wp:
        s = wp["summary"]
        sections += ["## Web Push alerts", "", _meta_line(wp), ""]
        sections += [
            f"One breaking story to {_f(s['n'])} subscriptions on a local push service "
            "(tests/pushstub.py: checks each VAPID JWT, decrypts each payload): all served in "
            f"{_f(s['served_s'], 2)} s (worst {_f(s['worst_served_s'], 2)} s), per subscription "
            f"p50 {_f(s['p50_s'], 2)} s, p99 {_f(s['p99_s'], 2)} s; lost {s['max_lost']}, "
            f"refused by the push service {s['max_rejected']}; {_f(s['connections'], 0)} "
            f"connections (reused); CPU notifier {_f(s['server_cpu_pct'], 0)}%, "
            f"push service {_f(s['client_cpu_pct'], 0)}%.",
            "",
        ]
        t.add(
            f"{_f(s['n'])} Web Push subscriptions served in <= 30 s",
            f"{_f(s['served_s'], 1)} s, lost {s['max_lost']}",
            s["served_s"] <= 30 and s["max_lost"] == 0,
            why="webpush",
        )
    else:
        t.add("10,000 Web Push subscriptions served in <= 30 s", "-", None)

    rd = _load(results, "reads")
    if rd and "summary" in rd:
        _reads_section(rd, sections, t)
    else:
        t.add("reads: / and /v1/timeline >= 50% of the /healthz floor", "-", None)

    st = _load(results, "stalled")
    if st:
        _stalled_section(st, sections, t)
    else:
        t.add("a stalled reader among 1,000 does not slow the others", "-", None)

    rp = _load(results, "replicas")
    if rp:
        sections += ["## 7. The cost of `LIVEFEED_REDIS_MIN_REPLICAS`", "", _meta_line(rp), ""]
        enqueue = rp.get("enqueue", {})
        rows = [
            [
                str(n),
                f"{_f(enqueue.get(f'min{n}', {}).get('p50_us', 0) / 1000, 2)} / "
                f"{_f(enqueue.get(f'min{n}', {}).get('p99_us', 0) / 1000, 2)}",
                *(
                    f"{_f(r['articles_per_s'], 0)}/s, {_f(r['p50_ms'])} / {_f(r['p99_ms'])} ms"
                    for batch in (1, 100)
                    if (r := _find(rp["summary"], batch=batch, min_replicas=n)) is not None
                ),
            ]
            for n in (0, 1)
        ]
        sections += _table(
            [
                "MIN_REPLICAS",
                "one enqueue p50 / p99 ms",
                "1 article per POST: articles/s, p50 / p99",
                "100 per POST: articles/s, p50 / p99",
            ],
            rows,
        )
        sections += [
            "A primary and one replica (both `appendfsync always`), `livefeed ingest` alone, 50 "
            "posters; the enqueue column times `Enqueuer.enqueue_blocking` alone, 0 and 1 "
            "alternated every 50 jobs in one process: what the `WAIT` adds to each request.",
            "",
        ]

    out += [
        "# livefeed benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.run_all`) from `bench/results/*.json`; "
        "do not edit by hand (`python -m bench.report` rebuilds it).",
        "",
        f"Machine: {machine.get('cores', '?')} cores, {machine.get('ram_gib', '?')} GiB RAM, "
        f"{machine.get('cpu_model', '?')}, Python {machine.get('python', '?')}, "
        f"Linux {machine.get('kernel', '?')}. Load average at start: "
        f"{machine.get('load_at_start', '?')}."
        + (
            " **Quick run (small N, 1 repeat): not the real figures.**"
            if machine.get("quick")
            else ""
        ),
        "",
        "The machine is shared: every section gives the load average and the CPU the rest of "
        "the machine used during the run, so a reader can judge noise. Compare ratios within "
        "one run, not absolute times across runs. Figures are medians of the repeats.",
        "",
        "## Targets",
        "",
        *_table(["target", "figure", "verdict", "note"], t.rows),
        *sections,
    ]
    md_path.write_text("\n".join(out).rstrip() + "\n")
    if readme is not None:
        short = [[r[0], r[1], r[2]] for r in t.rows]
        when = (
            f"{machine.get('cores', '?')} cores, load average {machine.get('load_at_start', '?')}"
        )
        update_readme(readme, _table(["target", "figure", "verdict"], short), when)


def main() -> None:
    """Rebuild RESULTS.md and the plot from the stored results."""
    write_report(
        REPO_ROOT / "bench/results", REPO_ROOT / "bench/RESULTS.md", REPO_ROOT / "bench/fanout.png"
    )


if __name__ == "__main__":
    main()
