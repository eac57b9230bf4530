"""One progress bar for the long CLI commands (`vulndb import`, `scan`, `gc`, `verify`).

    progress = Progress()                  # draws on stderr only if stderr is a terminal
    progress("mark", done=42, total=100)   # phase [############..................]  42%  42/100
    progress.fraction("sweep", 0.5, 17)    # when only a fraction and a count are known
    progress.close()                       # ends the line (if anything was drawn)

Not a terminal (a log file, a pipe, CI): every call does nothing, so logs stay clean. Redraws
are limited to ten a second, so callers may report per record without slowing down.
"""

from __future__ import annotations

import sys
import time
from typing import Self, TextIO

WIDTH = 30
INTERVAL = 0.1  # seconds between redraws


class Progress:
    def __init__(self, stream: TextIO | None = None, clock=time.monotonic) -> None:
        self._out = stream if stream is not None else sys.stderr
        self.live = _is_tty(self._out)
        self._clock = clock
        self._drawn_at: float | None = None
        self._dirty = False

    def __call__(self, phase: str, done: int, total: int, detail: str = "") -> None:
        """`done` of `total` items of `phase` finished (total 0: nothing to do, shown full)."""
        fraction = done / total if total > 0 else 1.0
        self._draw(phase, fraction, f"{done}/{total}{detail}", final=done >= total)

    def fraction(self, phase: str, fraction: float, count: int) -> None:
        """For work whose total is unknown up front: a fraction done and a running count."""
        self._draw(phase, fraction, str(count), final=fraction >= 1.0)

    def close(self) -> None:
        if self._dirty:
            self._out.write("\n")
            self._out.flush()
            self._dirty = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _draw(self, phase: str, fraction: float, count: str, final: bool) -> None:
        if not self.live:
            return
        now = self._clock()
        if not final and self._drawn_at is not None and now - self._drawn_at < INTERVAL:
            return
        self._drawn_at = now
        self._out.write(f"\r{line(phase, fraction, count)}\x1b[K")  # \x1b[K: clear the rest
        self._out.flush()
        self._dirty = True


def line(phase: str, fraction: float, count: str) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    filled = int(WIDTH * fraction)
    return f"{phase:<8} [{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:4.0%}  {count}"


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
