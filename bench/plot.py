"""Draw bench/results/fanout.json as bench/fanout.png.

Three panels against N, one line per variant: p99 latency (log scale), the time until every
client had a headline (median over headlines), server RSS per connection.

.venv/bin/python -m bench.plot [--in bench/results/fanout.json] [--out bench/fanout.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.common import REPO_ROOT
from bench.harness import RESULTS_DIR

COLORS = {"floor": "tab:gray", "socketio": "tab:red", "livefeed": "tab:blue"}


def _series(summary: list[dict[str, Any]], key: str) -> dict[str, tuple[list[int], list[float]]]:
    """{variant: (Ns, values)} for one summary field."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for row in sorted(summary, key=lambda r: r["n"]):
        ns, values = out.setdefault(row["variant"], ([], []))
        ns.append(row["n"])
        values.append(row[key])
    return out


def plot(results: Path, out: Path) -> None:
    """Write a three-panel chart of *results* to *out*."""
    plot_summary(json.loads(results.read_text())["summary"], out)


def plot_summary(
    summary: list[dict[str, Any]],
    out: Path,
    note: str = "",
    rss_rows: list[dict[str, Any]] | None = None,
) -> None:
    """Write a three-panel chart of fan-out medians to *out*; the RSS panel also takes
    *rss_rows* (other steps' rows, ``rss_per_conn_kib`` or ``rss_per_reader_kib``), up to the
    largest N measured."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    panels = (
        ("p99_ms", "p99 latency (ms)"),
        ("reach_all_p50_ms", "all clients reached, p50 (ms)"),
        ("rss_per_conn_kib", "server RSS per connection (KiB)"),
    )
    rss = [
        {**r, "rss_per_conn_kib": r.get("rss_per_conn_kib", r.get("rss_per_reader_kib"))}
        for r in (rss_rows or summary)
        if r["variant"] in COLORS
    ]
    merged: dict[tuple[str, int], dict[str, Any]] = {(r["variant"], r["n"]): r for r in rss}
    for ax, (key, title) in zip(axes, panels, strict=True):
        rows = list(merged.values()) if key == "rss_per_conn_kib" else summary
        for variant, (ns, values) in _series(rows, key).items():
            ax.plot(ns, values, marker="o", label=variant, color=COLORS.get(variant))
        ax.set_title(title)
        ax.set_xlabel("clients (N)")
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[0].legend()
    if note:
        fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--in", dest="src", type=Path, default=RESULTS_DIR / "fanout.json")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench/fanout.png")
    args = p.parse_args(argv)
    plot(args.src, args.out)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
