"""What the filesystem blob store holds, for the collector's stray pass (services/gc_strays.py).

    stored_blobs   blobs/<algorithm>/<xx>/<encoded>, walked one directory at a time in sorted
                   order (digest order), so memory holds one directory's names, not the store's
    idle_uploads   uploads/<id>/ whose directory and files were all last modified before the
                   cut-off and whose files no writer holds: every segment writer keeps an
                   exclusive flock(2) on its file while it is open (FileUploadWriter), so a
                   request that stalls mid-body, however long, keeps its staging

The check takes the same locks (non-blocking) and keeps them until the caller is done with the
id, so a writer cannot resume on a file between the check and the removal. Timestamps are the
files' own mtimes: the real clock, never a simulated `--now`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from dockyard.ports import StoredBlob


def stored_blobs(blobs_root: Path) -> Iterator[StoredBlob]:
    for algorithm in _sorted_dirs(blobs_root):
        for fan_out in _sorted_dirs(algorithm):
            for entry in sorted(_entries(fan_out), key=lambda e: e.name):
                with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                    info = entry.stat()
                    yield StoredBlob(f"{algorithm.name}:{entry.name}", info.st_size, info.st_mtime)


def idle_uploads(uploads_root: Path, idle_since: float) -> Iterator[str]:
    for entry in sorted(_entries(uploads_root), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            with _held_if_idle(Path(entry.path), idle_since) as idle:
                if idle:
                    yield entry.name


@contextlib.contextmanager
def _held_if_idle(directory: Path, idle_since: float) -> Iterator[bool]:
    """Whether nothing in `directory` changed since `idle_since` and no writer holds a file;
    while the caller runs, this holds every file's lock so no writer can take one."""
    held: list[int] = []
    try:
        yield _idle(directory, idle_since, held)
    finally:
        for fd in held:
            os.close(fd)


def _idle(directory: Path, idle_since: float, held: list[int]) -> bool:
    try:
        if directory.stat().st_mtime >= idle_since:
            return False
        for entry in _entries(directory):
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
            held.append(fd)
            if os.fstat(fd).st_mtime >= idle_since or not _try_lock(fd):
                return False
    except FileNotFoundError:  # the upload ended meanwhile: nothing to reclaim
        return False
    return True


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _sorted_dirs(path: Path) -> list[Path]:
    return sorted(Path(e.path) for e in _entries(path) if e.is_dir(follow_symlinks=False))


def _entries(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return list(entries)
    except FileNotFoundError:
        return []
