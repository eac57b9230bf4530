"""Write-behind recording of pulls.

A manifest GET must not wait for a database write, so pulls are collected in memory and
flushed about once a second (ECR documents that lastRecordedPullTime may lag, too). A crash
loses at most the last interval's pull times, never anything else.
"""

from __future__ import annotations

import threading

from dockyard.ports import ImageStore
from dockyard.services.pull_exclusions import PullExclusions


class PullRecorder:
    def __init__(self, images: ImageStore, exclusions: PullExclusions) -> None:
        self._images, self._exclusions = images, exclusions
        self._pending: dict[int, float] = {}
        self._lock = threading.Lock()

    def record(self, account_id: str, principal: str | None, image_id: int, when: float) -> None:
        if principal and self._exclusions.is_excluded(account_id, principal):
            return
        with self._lock:
            self._pending[image_id] = max(when, self._pending.get(image_id, when))

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
        if pending:
            self._images.record_pulls(pending)
        return len(pending)
