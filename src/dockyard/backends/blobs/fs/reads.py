"""Reading a blob file through the page cache, with the kernel told to read well ahead.

A blob that is not in the page cache (pushed long ago, or the part of a huge upload written
with direct I/O, `filesystem.CACHE_LIMIT`) is read from the disk. Left to its default readahead the
kernel keeps too little in flight for a cold GET to use the disk. Advising it
(`POSIX_FADV_WILLNEED`) to fetch up to 64 MiB ahead of the reader, in 8 MiB steps, kept the
virtual disk busy while filling the page cache, so the second GET is served from memory. An
earlier version read cold ranges with O_DIRECT to skip the page-cache fill; it was capped at
the disk's direct-read speed on every GET. Measured: benchmarks/README.md (run.py).
Advice on a range that is already cached costs a page-cache lookup and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

READ_AHEAD = 64 * 1024 * 1024
ADVICE_STEP = 8 * 1024 * 1024
_ADVISE = getattr(os, "posix_fadvise", None)  # not on macOS


def read_range(
    path: str | os.PathLike[str], offset: int, length: int | None, chunk: int
) -> Iterator[bytes]:
    """The bytes [offset, offset + length) of a file (to its end when length is None), in
    chunks of `chunk` bytes."""
    handle = open(path, "rb", buffering=0)  # noqa: SIM115 - now, so a missing file raises here
    return _chunks(handle, offset, length, chunk)


def _chunks(handle, offset: int, length: int | None, chunk: int) -> Iterator[bytes]:
    with handle:
        fd = handle.fileno()
        end = os.fstat(fd).st_size if length is None else offset + length
        ahead = _ReadAhead(fd, offset, end)
        position = offset
        while position < end:
            ahead.cover(position)
            data = os.pread(fd, min(chunk, end - position), position)
            if not data:
                return  # the file is shorter than the range
            position += len(data)
            yield data


class _ReadAhead:
    """Keeps the kernel reading up to READ_AHEAD bytes past the reader, within [start, end)."""

    def __init__(self, fd: int, start: int, end: int) -> None:
        self._fd, self._advised, self._end = fd, start, end
        if _ADVISE is not None and start < end:
            _ADVISE(fd, start, end - start, os.POSIX_FADV_SEQUENTIAL)

    def cover(self, position: int) -> None:
        if _ADVISE is None:
            return
        target = min(self._end, position + READ_AHEAD)
        while self._advised < target:
            step = min(ADVICE_STEP, self._end - self._advised)
            _ADVISE(self._fd, self._advised, step, os.POSIX_FADV_WILLNEED)
            self._advised += step
