"""Where a blocking call runs: on the event loop or in a worker thread. Decided here only.

    adapter / async service ──> Placement.run(fn, *args)
                                   │
              fn is @bounded, the stores are in-process, no local write open?
                   yes: fn(*args) on the loop          no: a worker thread

A use case marks itself `@bounded` when its work is bounded by its input (one image, one
upload, at most 100 ids: a handful of rows and no blob bytes): what the use case does, not what
a backend costs. The composition root builds the one `Placement` from what it knows (URL
schemes, worker count) and hands it to whoever awaits calls; nobody else asks a store how local
it is.

Why inline at all: on the embedded default (SQLite and local files, one process) a bounded call
takes a fraction of a millisecond, while handing it to a thread and back costs two context
switches and a GIL hand-over: a large share of the server's CPU for four clients pushing small
images (measured: benchmarks/README.md, run.py). Even there a call goes to a thread while a write of this process is open
(`busy`): a long one, such as DeleteRepository with force, would stall every connection while
the call waited its turn. A store across the network (PostgreSQL, S3) would stall the loop for a
round trip, and with several processes on one SQLite file a writer may wait for another
process's lock, so those keep threads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from anyio import to_thread

T = TypeVar("T")
I = TypeVar("I")
F = TypeVar("F", bound=Callable[..., Any])

_BOUNDED = "_dockyard_bounded"
#: Requests at once when each is a round trip to a remote store (an S3 DELETE).
REMOTE_PARALLELISM = 8


def bounded(fn: F) -> F:
    """Mark a use case whose work is bounded by its input (see the module doc)."""
    setattr(fn, _BOUNDED, True)
    return fn


def is_bounded(fn: Callable[..., Any]) -> bool:
    return getattr(fn, _BOUNDED, False) is True


def _never() -> bool:
    return False


def _next_or_none(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


class Placement:
    """`inline`: bounded calls may run on the event loop (the embedded default in one process);
    `local_blobs`: blob bytes are in local files, read on the loop and deleted one by one;
    `busy`: True while a write of this process is open (a bounded call then takes a thread)."""

    def __init__(
        self, inline: bool = False, local_blobs: bool = False, busy: Callable[[], bool] = _never
    ) -> None:
        self.inline, self.local_blobs, self._busy = inline, local_blobs, busy

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.run_like(fn, fn, *args)

    async def run_like(self, use_case: Callable[..., Any], fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` (the whole of a call that serves `use_case`) where `use_case` would run."""
        if self.inline and is_bounded(use_case) and not self._busy():
            return fn(*args)
        return await to_thread.run_sync(fn, *args)

    async def stream(self, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
        """A blob's chunks: read on the loop from local files, in a thread from a remote store."""
        if self.local_blobs:  # a cached MiB takes well under a millisecond: less than a hop
            for chunk in chunks:
                yield chunk
            return
        while True:
            fetched: bytes | None = await to_thread.run_sync(_next_or_none, chunks)
            if fetched is None:
                return
            yield fetched

    def each(self, fn: Callable[[I], object], items: Iterable[I]) -> None:
        """Call `fn` on every item (from a worker thread): one after the other on local files,
        several round trips at once on a remote store."""
        if self.local_blobs:
            for item in items:
                fn(item)
            return
        with ThreadPoolExecutor(REMOTE_PARALLELISM) as pool:
            list(pool.map(fn, items))
