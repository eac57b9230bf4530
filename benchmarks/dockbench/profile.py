"""Optional sampling profile of the Dockyard server during each scenario (``--profile``).

Runs ``py-spy record --format raw`` (collapsed stacks, one ``frame;frame;... count`` per line) on
the server's process tree for the length of a scenario, then writes a short summary of the hottest
leaf frames and of the heaviest inclusive frames beside it. Figures measured while profiling are
perturbed (py-spy takes CPU on a 2-core machine): use them to see *where* time goes, not how much.
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Self


class PySpy:
    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        if not shutil.which("py-spy"):
            raise RuntimeError("--profile needs py-spy (pip install py-spy)")
        self.out = out
        self.cmd = [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--threads",
            "--rate",
            str(rate),
            "--format",
            "raw",
            "-o",
            str(out),
        ]

    def __enter__(self) -> Self:
        self.out.unlink(missing_ok=True)
        self.log = self.out.with_suffix(".log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT)
        time.sleep(0.3)  # let py-spy attach before the scenario starts
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        top = self.out.with_suffix(".top.txt")
        if self.out.exists():
            top.write_text(summarize(self.out))
        else:
            top.write_text(f"py-spy wrote nothing; see {self.log.name}\n")


def summarize(raw: Path, top: int = 25) -> str:
    leaf: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        total += n
        leaf[frames[-1]] += n
        for frame in set(frames[1:]):  # frames[0] is the thread or process label
            inclusive[frame] += n
    if not total:
        return "no samples\n"

    def table(counter: collections.Counter[str]) -> list[str]:
        return [f"{100 * n / total:5.1f}%  {frame}" for frame, n in counter.most_common(top)]

    return "\n".join(
        [
            f"{total} samples (on-CPU only; C code shows as the Python line calling it)",
            "",
            "hottest leaf frames:",
            *table(leaf),
            "",
            "heaviest inclusive frames:",
            *table(inclusive),
            "",
        ]
    )
