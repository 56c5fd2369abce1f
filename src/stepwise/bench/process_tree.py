"""Machine-wide measurements for a bench run: the summed RSS of process trees, CPU busy and steal shares, and
the CPU time each group of processes used."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from types import TracebackType

_TICKS = os.sysconf("SC_CLK_TCK")


def _pids() -> list[int]:
    """Every process now running, from /proc."""
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state, parent, ...); empty when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    tree: dict[int, list[int]] = {}
    for pid in _pids():
        fields = _stat_fields(pid)
        if len(fields) > 1 and fields[1].isdigit():
            tree.setdefault(int(fields[1]), []).append(pid)
    return tree


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pids(roots: Iterable[int]) -> set[int]:
    """These processes and all their descendants."""
    tree, seen, todo = _children(), set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(tree.get(pid, []))
    return seen


def tree_rss_mb(roots: list[int]) -> float:
    """The summed resident memory of these processes and all their descendants."""
    return sum(_rss_kb(pid) for pid in tree_pids(roots)) / 1024


def pids_with(fragment: str) -> list[int]:
    """Processes whose command line contains `fragment` (PostgreSQL names a backend's database in its title)."""
    found = []
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if fragment.encode() in cmdline.read():
                    found.append(pid)
        except OSError:
            continue
    return found


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process used so far (0 when it is gone)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _TICKS if len(fields) > 12 else 0.0


class CpuSplit:
    """The CPU seconds each named group of processes used during the block.

    A group is a function listing its processes, asked at the start and at the end: a process that
    started meanwhile counts from zero; one that ended meanwhile is not counted.
    """

    def __init__(self, groups: dict[str, Callable[[], Iterable[int]]]) -> None:
        self.groups = groups
        self.before: dict[str, dict[int, float]] = {}
        self.used: dict[str, float] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        return {name: {pid: _cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()}

    def __enter__(self) -> CpuSplit:
        self.before = self._read()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        after = self._read()
        self.used = {
            name: round(sum(cpu - self.before[name].get(pid, 0.0) for pid, cpu in now.items()), 2)
            for name, now in after.items()
        }


class RssSampler:
    """Samples the summed RSS of process trees every 0.1 s in a thread; `peak_mb` after the block."""

    def __init__(self, roots: list[int]) -> None:
        self.roots, self.peak_mb = roots, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak_mb = max(self.peak_mb, round(tree_rss_mb(self.roots), 1))

    def __enter__(self) -> RssSampler:
        self.peak_mb = round(tree_rss_mb(self.roots), 1)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_times() -> list[int]:
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            return [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return []


class CpuMeter:
    """The share of all CPUs that was busy, and stolen by the hypervisor, during the block (/proc/stat)."""

    def __init__(self) -> None:
        self.before: list[int] = []
        self.after: list[int] = []

    def __enter__(self) -> CpuMeter:
        self.before = _cpu_times()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.after = _cpu_times()

    def figures(self) -> dict[str, float | None]:
        if len(self.before) < 8 or len(self.after) < 8:
            return {"cpu_busy_pct": None, "cpu_steal_pct": None}
        delta = [b - a for a, b in zip(self.before, self.after, strict=False)]
        total = sum(delta[:8]) or 1
        idle = delta[3] + delta[4]  # idle + iowait
        busy, steal = 100 * (total - idle) / total, 100 * delta[7] / total
        return {"cpu_busy_pct": round(busy, 1), "cpu_steal_pct": round(steal, 1)}
