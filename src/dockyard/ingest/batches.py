"""Request bodies in batches: received on the event loop, hashed and written in worker threads.

Bytes are received in batches of a few MiB and each batch is hashed and written by two worker
threads at once, with the next batch received meanwhile (see DESIGN.md on the measurements).
"""

from __future__ import annotations

import asyncio
import mmap
from collections.abc import AsyncIterator
from typing import Any

from dockyard.ingest.sha256_state import Sha256
from dockyard.ports import UploadWriter

BATCH = 4 * 1024 * 1024
POOL_SIZE = 8
# Batch buffers shared by uploads on this event loop (touched only from the loop's thread).
_POOL: list[mmap.mmap] = []


class BatchReader:
    """Gathers a request body into batches in two reused buffers.

    While one buffer is being hashed and written by worker threads the other fills; reusing
    them (instead of joining fresh bytes) spares the allocator hundreds of thousands of page
    faults per GiB. They are anonymous mappings, so page-aligned: a blob store may hand them
    to the disk with direct I/O, without copying them first.
    """

    def __init__(self, body: AsyncIterator[bytes], size: int) -> None:
        self._body, self._size = body, size
        self._buffers: list[mmap.mmap] = []
        self._turn = 0
        self._leftover = memoryview(b"")

    def release(self) -> None:
        """Give the buffers back for the next upload (call once no thread uses them)."""
        while self._buffers:
            buffer = self._buffers.pop()
            if len(_POOL) < POOL_SIZE:
                _POOL.append(buffer)

    def _buffer(self) -> mmap.mmap:
        if len(self._buffers) < 2:
            self._buffers.append(_POOL.pop() if _POOL else mmap.mmap(-1, self._size))
        buffer = self._buffers[self._turn % len(self._buffers)]
        self._turn += 1
        return buffer

    async def next_batch(self) -> memoryview | None:
        if not self._leftover:
            # An empty body (a PUT that only completes an upload) takes no buffer at all.
            first = await anext(self._body, b"")
            if not first:
                return None
            self._leftover = memoryview(first)
        buffer = self._buffer()
        filled = 0
        while filled < len(buffer):
            chunk = self._leftover or memoryview(await anext(self._body, b""))
            if not chunk:
                break
            take = min(len(chunk), len(buffer) - filled)
            buffer[filled : filled + take] = chunk[:take]
            self._leftover, filled = chunk[take:], filled + take
        return memoryview(buffer)[:filled] if filled else None


async def pipeline(
    first: memoryview, rest: BatchReader, writer: UploadWriter, hasher: Sha256 | None
) -> None:
    """Hash and write each batch in worker threads while the next batch is received."""
    pending: asyncio.Future[Any] | None = None
    batch: memoryview | None = first
    try:
        while batch is not None:
            if pending is not None:
                await pending
            pending = _process(batch, writer, hasher)
            batch = await rest.next_batch()
    finally:
        if pending is not None:
            await pending


def _process(batch: memoryview, writer: UploadWriter, hasher: Sha256 | None) -> asyncio.Future[Any]:
    jobs = [asyncio.to_thread(writer.write, batch)]
    if hasher is not None:
        jobs.append(asyncio.to_thread(hasher.update, batch))
    return asyncio.gather(*jobs)


async def once(data: bytes) -> AsyncIterator[bytes]:
    yield data
