"""What every benchmark step shares: its command line, repeats and medians, the results file.

A step is a module with ``arguments(parser)`` (its own options), ``measure(args) -> dict`` (the
JSON that ``bench/results/<step>.json`` holds: ``summary`` and ``runs``) and, for a module that
runs a helper process of its own, ``child(args) -> dict`` (run as ``--child ROLE``, its answer
printed as JSON). It ends with::

    if __name__ == "__main__":
        sys.exit(harness.main(sys.modules[__name__], "<step>"))

``python -m bench.<module> [options]`` and ``make bench`` (bench/run_all.py) then run it the
same way: ``--repeats`` and ``--out`` are added here, and the file gets ``meta`` (when, how
long, the load average before and after, the command line).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.common import REPO_ROOT, percentile

RESULTS_DIR = REPO_ROOT / "bench/results"
Row = dict[str, Any]


def _name(module: ModuleType) -> str:
    """``bench.<step>``, also when the module runs as ``__main__``."""
    return module.__spec__.name if module.__spec__ else module.__name__


def parse(module: ModuleType, step: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The step's command line: its own options, ``--repeats``, ``--out`` and ``--child``."""
    p = argparse.ArgumentParser(
        prog=f"python -m {_name(module)}",
        description=module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--repeats", type=int, default=3, help="runs per figure; medians reported")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / f"{step}.json")
    p.add_argument("--child", help=argparse.SUPPRESS)  # a helper process of the step
    module.arguments(p)
    return p.parse_args(argv)


def run(module: ModuleType, step: str, argv: Sequence[str]) -> Row:
    """Measure, write ``--out`` with ``meta``; return what was written."""
    started, load0 = time.time(), os.getloadavg()[0]
    args = parse(module, step, argv)
    result: Row = module.measure(args)
    save(args.out, result, f"python -m {_name(module)} {' '.join(argv)}".strip(), started, load0)
    return result


def save(path: Path, result: Row, command: str, started: float, load0: float) -> None:
    """Write *result* (with ``meta``) as JSON to *path*."""
    result["meta"] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "command": command,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"== written {path} ({result['meta']['duration_s']:.0f} s)", flush=True)


def main(module: ModuleType, step: str, argv: Sequence[str] | None = None) -> int:
    """Command line of a step: measure and write the results, or run its ``--child`` role."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(module, step, argv)
    if args.child:
        print(json.dumps(module.child(args)), flush=True)
        return 0
    summary = run(module, step, argv).get("summary")
    for line in summary if isinstance(summary, list) else [summary] if summary else []:
        print(json.dumps(line, default=str))
    return 0


def child(module: str, role: str, *argv: str, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``python -m <module> --child <role> ...`` from the repo root, stdout piped."""
    command = [sys.executable, "-m", module, "--child", role, *argv]
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, **popen)


def answer(proc: subprocess.Popen[bytes], timeout_s: float) -> Row:
    """The JSON a ``child`` printed last; fails if it failed."""
    out, _ = proc.communicate(timeout=timeout_s)
    if proc.returncode:
        raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
    result: Row = json.loads(out.decode().strip().splitlines()[-1])
    return result


def repeat(repeats: int, label: str, once: Callable[[str], Row]) -> list[Row]:
    """*once(label)* *repeats* times, labels ``[<label> i/repeats]``."""
    return [once(f"[{label} {i + 1}/{repeats}]") for i in range(repeats)]


def medians(rows: Iterable[Row], keys: Iterable[str]) -> Row:
    """Per key, the median over *rows* of its values that are not NaN (NaN when none is)."""
    rows = list(rows)
    out: Row = {}
    for key in keys:
        values = [r[key] for r in rows if not (isinstance(r[key], float) and math.isnan(r[key]))]
        out[key] = statistics.median(values) if values else float("nan")
    return out


def spread_ms(values: list[int] | list[float], unit_s: float) -> Row:
    """``p50_ms``, ``p99_ms``, ``max_ms`` of ascending *values* given in units of *unit_s*."""
    scale = unit_s * 1000
    return {
        "p50_ms": percentile(values, 0.50) * scale,
        "p99_ms": percentile(values, 0.99) * scale,
        "max_ms": values[-1] * scale if values else float("nan"),
    }
