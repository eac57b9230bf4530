"""CPU time and resident memory of a server process and all its descendants, from /proc.

CPU is ``utime + stime`` of every live process in the tree plus ``cutime + cstime`` (children
that were already reaped). Memory is sampled by a background thread: the peak of the summed
``VmRSS`` over the tree, and the kernel's own ``VmHWM`` high-water mark of the root process.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Self

CLK_TCK = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rfind(")") + 2 :].split()  # fields[0] is field 3 (state)


def descendants(root: int) -> list[int]:
    """The root pid and every process whose parent chain leads to it."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(parents.get(pid, []))
    return tree


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of the tree so far, reaped children included."""
    ticks = 0
    for pid in descendants(root):
        fields = _stat_fields(pid)
        if fields is not None:
            # utime, stime, cutime, cstime are fields 14-17, i.e. indices 11-14 here.
            ticks += sum(int(f) for f in fields[11:15])
    return ticks / CLK_TCK


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def hwm_mib(pid: int) -> float:
    return _status_kib(pid, "VmHWM") / 1024


class RssMonitor:
    """Polls the summed VmRSS of a process tree; ``peak_mib`` is the largest sum seen."""

    def __init__(self, root: int, interval: float = 0.05, rescan: float = 0.5) -> None:
        self.root, self.interval, self.rescan = root, interval, rescan
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-monitor", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> float:
        peak, self.peak_mib = self.peak_mib, 0.0
        return peak

    def _loop(self) -> None:
        pids, scanned = [self.root], 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - scanned > self.rescan:
                pids, scanned = descendants(self.root), now
            rss = sum(_status_kib(pid, "VmRSS") for pid in pids) / 1024
            self.peak_mib = max(self.peak_mib, rss)
            self._stop.wait(self.interval)
