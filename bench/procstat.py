"""Memory and CPU of a process tree, read from /proc (Linux only)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
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
        if entry.isdigit():
            info = _ppid_and_times(int(entry))
            if info is not None:
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
    total = 0
    for pid in pids:
        info = _ppid_and_times(pid)
        if info is not None:
            total += info[1]
    return total


@dataclass
class CpuMeter:
    """Measures CPU% of a fixed set of processes between start() and stop()."""

    pids: list[int]
    _t0: float = 0.0
    _ticks0: int = 0

    def start(self) -> None:
        """Take the first sample."""
        self._t0 = time.monotonic()
        self._ticks0 = cpu_ticks(self.pids)

    def stop(self) -> float:
        """CPU% (100 = one core) since start()."""
        wall = time.monotonic() - self._t0
        used = (cpu_ticks(self.pids) - self._ticks0) / CLK_TCK
        return 100.0 * used / wall if wall > 0 else 0.0


def machine_busy_ticks() -> int:
    """Busy (non-idle, non-iowait) ticks of the whole machine, all cores, from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return user + nice + system + irq + softirq + steal


@dataclass
class MachineMeter:
    """CPU% (100 = one core) used by the whole machine between start() and stop()."""

    _t0: float = 0.0
    _ticks0: int = 0

    def start(self) -> None:
        """Take the first sample."""
        self._t0 = time.monotonic()
        self._ticks0 = machine_busy_ticks()

    def stop(self) -> float:
        """Machine CPU% since start()."""
        wall = time.monotonic() - self._t0
        used = (machine_busy_ticks() - self._ticks0) / CLK_TCK
        return 100.0 * used / wall if wall > 0 else 0.0
