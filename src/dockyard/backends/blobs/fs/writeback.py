"""Early write-back of file ranges (Linux `sync_file_range`), a no-op where it is unavailable.

Without it, a 1 GiB upload sits in the page cache until the final fsync, which then waits for
all of it; asking the kernel to start writing each batch as it lands overlaps disk writes with
receiving the next batch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

SYNC_FILE_RANGE_WRITE = 2


def _load() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_sync_file_range = _load()


def start_writeback(fd: int, offset: int, length: int) -> None:
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE)  # type: ignore[operator]
