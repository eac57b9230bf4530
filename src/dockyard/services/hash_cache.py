"""The running hashes of uploads this process received chunks of: bounded, never stale.

Keyed by (upload id, generation): a generation names exactly one chain of acknowledged bytes
(it moves only by compare-and-set, see services/uploads.py), so a hasher found under it has
hashed precisely those bytes, whichever process wrote them since. Entries are put only after
the chunk they cover was acknowledged, and handed out as copies, so two requests on one upload
never feed one hasher. At most `capacity` entries, least recently used dropped first; a miss
costs a resume from the state saved in the metadata store, or a re-hash at completion.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from dockyard.ingest.sha256_state import Sha256

CAPACITY = 4096  # a few hundred bytes each


class HashCache:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._entries: OrderedDict[tuple[str, int], Sha256] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def take_copy(self, upload_id: str, generation: int) -> Sha256 | None:
        """A copy of the hasher after the upload's `generation`, if this process has it."""
        with self._lock:
            hasher = self._entries.get((upload_id, generation))
            if hasher is None:
                return None
            self._entries.move_to_end((upload_id, generation))
            return hasher.copy()

    def put(self, upload_id: str, generation: int, hasher: Sha256) -> None:
        """Remember `hasher` as the state after `generation` (which must be acknowledged)."""
        with self._lock:
            self._entries[(upload_id, generation)] = hasher
            self._entries.move_to_end((upload_id, generation))
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def forget(self, upload_id: str, generation: int) -> None:
        with self._lock:
            self._entries.pop((upload_id, generation), None)
