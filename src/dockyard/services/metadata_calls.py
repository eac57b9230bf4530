"""Where a bounded metadata call runs: on the event loop or in a worker thread.

On the embedded default (SQLite and local files, one process) such a call (a manifest, a blob
lookup, an upload's start, PutImage) takes a fraction of a millisecond, while handing it to a
thread and back costs two context switches and a GIL hand-over: on the reference machine a
third of the server's CPU for four clients pushing small images (inline, 80 images/s instead of
60-69). The composition root turns `inline` on only there (see app.inline_calls). Even then a
call goes to a thread while a write of this process is open (`MetadataStore.writing`): a long
one, such as DeleteRepository with force, would stall every connection while the call waited
its turn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from anyio import to_thread

from dockyard.ports import MetadataStore

T = TypeVar("T")


class MetadataCalls:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta
        self.inline = False

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.inline and not self.meta.writing:
            return fn(*args)
        return await to_thread.run_sync(fn, *args)
