"""Hashing a blob file as fast as hashlib goes: `dockyard verify` re-hashes whole stores.

One reused buffer filled by `readinto` (no allocation, no page faults per read) and handed to
hashlib as a view (it releases the GIL for large updates); the kernel is told to read well
ahead (`file_reads._ReadAhead`), so a cold file streams from the disk while the CPU hashes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from dockyard.backends.blobs.fs.reads import _ReadAhead

READ = 4 * 1024 * 1024
_BUFFERS = threading.local()  # one buffer per thread, reused across files


def hash_file(path: Path, algorithm: str, progress: Callable[[int], None] | None = None) -> str:
    """The hex digest of the file's bytes (FileNotFoundError if there is none)."""
    hasher = hashlib.new(algorithm)
    buffer = _buffer()
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        fd = handle.fileno()
        ahead = _ReadAhead(fd, 0, os.fstat(fd).st_size)
        position = 0
        while True:
            ahead.cover(position)
            read = handle.readinto(buffer)
            if not read:
                return hasher.hexdigest()
            hasher.update(view[:read])
            position += read
            if progress is not None:
                progress(read)


def _buffer() -> bytearray:
    buffer = getattr(_BUFFERS, "buffer", None)
    if buffer is None:
        buffer = _BUFFERS.buffer = bytearray(READ)
    return buffer
