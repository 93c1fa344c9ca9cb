"""Draw bench/results/fanout.json as a PNG.

Three panels against N, one line per variant: p99, all-reached p50, RSS per connection.

.venv/bin/python -m bench.plot [--in bench/results/fanout.json] [--out bench/results/fanout.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.fanout import RESULTS


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
    summary = json.loads(results.read_text())["summary"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    panels = (
        ("p99_ms", "p99 latency (ms)"),
        ("reach_all_p50_ms", "all clients reached, p50 (ms)"),
        ("rss_per_conn_kib", "server RSS per connection (KiB)"),
    )
    for ax, (key, title) in zip(axes, panels, strict=True):
        for variant, (ns, values) in _series(summary, key).items():
            ax.plot(ns, values, marker="o", label=variant)
        ax.set_title(title)
        ax.set_xlabel("clients (N)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--in", dest="src", type=Path, default=RESULTS)
    p.add_argument("--out", type=Path, default=RESULTS.with_suffix(".png"))
    args = p.parse_args(argv)
    plot(args.src, args.out)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
