"""Injected time: services never call time.time() themselves, so tests can be exact."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.current = start

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds


class OffsetClock:
    """Another clock plus an offset in seconds read from a file: `dockyard serve --test-clock`.

    Lets a test move a running server's time forward (lifecycle rules, token expiry) by writing
    a number to the file. Read again only when the file changes (one stat a call); a missing or
    unreadable file means no offset, never an error in a request.
    """

    def __init__(self, base: Clock, path: Path) -> None:
        self.base, self.path = base, path
        self._seen: tuple[int, int, int] | None = None
        self._offset = 0.0

    def now(self) -> float:
        return self.base.now() + self.offset()

    def offset(self) -> float:
        try:
            info = os.stat(self.path)
        except OSError:
            return 0.0
        seen = (info.st_ino, info.st_mtime_ns, info.st_size)  # a writer replaces it: a new inode
        if seen != self._seen:
            self._seen = seen
            try:
                self._offset = float(self.path.read_text().strip() or 0)
            except (OSError, ValueError):
                self._offset = 0.0
        return self._offset
