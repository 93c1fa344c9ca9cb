"""Memory and CPU of process trees and of the whole machine, read from /proc (Linux only)."""

from __future__ import annotations

import os
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _ppid_and_times(pid: int) -> tuple[int, int] | None:
    """(parent pid, utime+stime ticks) of *pid*, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name (field 2) may contain spaces: split after its closing parenthesis
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def tree_pids(root: int) -> list[int]:
    """*root* and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _ppid_and_times(int(entry))) is not None:
            children.setdefault(info[0], []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB (0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return 0


def tree_rss_kib(root: int) -> int:
    """Summed VmRSS of *root* and its descendants, KiB."""
    return sum(rss_kib(pid) for pid in tree_pids(root))


def cpu_ticks(pids: list[int]) -> int:
    """Summed utime+stime ticks of *pids* (processes that are gone count 0)."""
    return sum(info[1] for pid in pids if (info := _ppid_and_times(pid)) is not None)


def cpu_ns(pids: list[int]) -> int:
    """Summed run time (ns) of every live thread of *pids*, from /proc/<pid>/task/*/schedstat:
    exact, where utime+stime are sampled in 10 ms ticks (a thread that exited no longer
    counts, so measure long-lived processes)."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except (FileNotFoundError, ProcessLookupError):
            continue
        for task in tasks:
            try:
                total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                continue
    return total


def machine_busy_ticks() -> int:
    """Busy (non-idle, non-iowait) ticks of the whole machine, all cores, from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return user + nice + system + irq + softirq + steal


class CpuMeters:
    """CPU% (100 = one core) of named groups of processes between start() and stop(), and of
    the rest of the machine (``other``: the machine's busy time less the groups')."""

    def __init__(self, **groups: list[int]) -> None:
        self.groups = groups
        self._t0 = 0.0
        self._ticks0: dict[str, int] = {}

    def _ticks(self) -> dict[str, int]:
        ticks = {name: cpu_ticks(pids) for name, pids in self.groups.items()}
        return {**ticks, "machine": machine_busy_ticks()}

    def start(self) -> None:
        """Take the first sample."""
        self._t0, self._ticks0 = time.monotonic(), self._ticks()

    def stop(self) -> dict[str, float]:
        """{group: CPU%, ..., "other": CPU% of the rest of the machine} since start()."""
        wall, ticks = time.monotonic() - self._t0, self._ticks()
        pct = {k: 100.0 * (ticks[k] - self._ticks0[k]) / CLK_TCK / wall for k in ticks}
        machine = pct.pop("machine")
        return {**pct, "other": max(0.0, machine - sum(pct.values()))}
