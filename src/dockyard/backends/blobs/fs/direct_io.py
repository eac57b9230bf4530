"""Appending to an upload file with direct I/O (`O_DIRECT`), bypassing the page cache.

Why: a buffered write copies every byte into freshly allocated page-cache pages and the
kernel writes them back later; a direct write hands the buffer to the disk instead and the
final fsync only has to flush the device cache. Used only past the first
`filesystem.CACHE_LIMIT` bytes of a blob: below it, keeping a just-pushed layer in the page
cache for its first pull was worth the small extra CPU (measured, see fs/store.py), and
above it a huge push does not evict the rest of the cache.

Direct I/O needs the file offset, the length and the buffer address aligned to the device's
block size. Aligned input (the upload batches are page-aligned `mmap` buffers) is written
without a copy; anything else goes through a small aligned staging buffer. The last partial
block (the "carry") is written with ordinary buffered I/O when the writer is finished, and
read back when an upload is resumed at an unaligned size. Filesystems without `O_DIRECT`
(tmpfs) or that refuse an aligned write get plain buffered writes: `open_direct` returns None.

Reads go through the page cache, with readahead advice (`fs/reads.py`).
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os

# 4 KiB covers both 512-byte and 4 KiB logical block sizes.
ALIGN = 4096
STAGE = 1024 * 1024
O_DIRECT = getattr(os, "O_DIRECT", 0)
# Whether aligned direct writes work, per filesystem (st_dev), probed once.
_WORKS_ON: dict[int, bool] = {}


def aligned_buffer(size: int) -> mmap.mmap:
    """A zeroed, page-aligned buffer (anonymous mapping), usable for direct writes."""
    return mmap.mmap(-1, size)


class DirectAppender:
    """Writes bytes at the end of an open file with O_DIRECT, keeping the unaligned tail."""

    def __init__(self, fd: int, offset: int) -> None:
        base = offset - offset % ALIGN
        # The partial block before `offset` is already on disk; it is rewritten, with the
        # bytes that follow it, as the first aligned block.
        self._carry = os.pread(fd, offset - base, base) if offset > base else b""
        self._fd, self._pos = fd, base
        self._stage: mmap.mmap | None = None

    @property
    def size(self) -> int:
        return self._pos + len(self._carry)

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            if not self._carry and len(view) >= ALIGN and self._write_in_place(view):
                view = view[len(view) - len(view) % ALIGN :]
                continue
            view = self._write_staged(view)

    def finish(self) -> None:
        """Write the carried tail with buffered I/O (direct I/O cannot write a partial block)."""
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~O_DIRECT)
        if self._carry:
            _pwrite_all(self._fd, memoryview(self._carry), self._pos)
            self._pos, self._carry = self._pos + len(self._carry), b""
        if self._stage is not None:
            self._stage.close()
            self._stage = None

    def _write_in_place(self, view: memoryview) -> bool:
        """Write the aligned prefix of `view` from its own memory; False if it is misaligned."""
        length = len(view) - len(view) % ALIGN
        try:
            _pwrite_all(self._fd, view[:length], self._pos)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            return False  # the buffer's address is not aligned: copy through the stage
        self._pos += length
        return True

    def _write_staged(self, view: memoryview) -> memoryview:
        if self._stage is None:
            self._stage = aligned_buffer(STAGE)
        stage = memoryview(self._stage)
        carried = len(self._carry)
        take = min(len(view), STAGE - carried)
        stage[:carried] = self._carry
        stage[carried : carried + take] = view[:take]
        filled = carried + take
        length = filled - filled % ALIGN
        if length:
            _pwrite_all(self._fd, stage[:length], self._pos)
            self._pos += length
        self._carry = bytes(stage[length:filled])
        stage.release()
        return view[take:]


def open_direct(fd: int, offset: int) -> DirectAppender | None:
    """Switch `fd` to direct I/O and return an appender at `offset`, or None if unsupported."""
    if not O_DIRECT:
        return None
    appender = DirectAppender(fd, offset)  # reads the carry, before reads must be aligned
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | O_DIRECT)
    except OSError:
        return None
    device = os.fstat(fd).st_dev
    if device not in _WORKS_ON:
        _WORKS_ON[device] = _probe(appender, fd)
    if not _WORKS_ON[device]:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)
        return None
    return appender


def _probe(appender: DirectAppender, fd: int) -> bool:
    """Some filesystems accept the flag but refuse aligned writes: try one block first."""
    block = aligned_buffer(ALIGN)
    try:
        view = memoryview(block)
        view[: len(appender._carry)] = appender._carry
        # Writes the current contents of the first block back in place (zeros past the
        # carry land beyond the end and are overwritten or truncated later).
        os.pwrite(fd, view, appender._pos)
        view.release()
        os.ftruncate(fd, appender.size)
        return True
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return False
        raise
    finally:
        block.close()


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
