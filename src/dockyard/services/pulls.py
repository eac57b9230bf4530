"""Write-behind recording of pulls.

A manifest GET must not wait for a database write, so pulls are collected in memory and
flushed about once a second (ECR documents that lastRecordedPullTime may lag, too). A crash
loses at most the last interval's pull times, never anything else.
"""

from __future__ import annotations

import threading

from dockyard.ports import ImageStore


class PullRecorder:
    def __init__(self, images: ImageStore) -> None:
        self._images = images
        self._pending: dict[int, float] = {}
        self._lock = threading.Lock()

    def record(self, image_id: int, when: float) -> None:
        with self._lock:
            self._pending[image_id] = max(when, self._pending.get(image_id, when))

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
        if pending:
            self._images.record_pulls(pending)
        return len(pending)
