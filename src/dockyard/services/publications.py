"""Pins that keep garbage collection away from a blob while an upload publishes it.

    pin(digest)  ── row created or revived (live), pin row added; waits while the blob is
        │            `deleting` (the collector is removing the old bytes: publish anew after)
    publish bytes (no-op if they exist: the pin keeps them)
        │
    release(pin) ── in the transaction that links the blob to the repository: refuses the
                    upload if the pin or the blob was lost meanwhile (a pin past its lease)

See services/gc.py for the state machine the pins take part in.
"""

from __future__ import annotations

import time
import uuid

from dockyard.domain.errors import BlobNotFound
from dockyard.ports import MetadataStore
from dockyard.services.clock import Clock
from dockyard.services.gc import PIN_LEASE

#: How long an upload waits for the collector to finish deleting the old copy of its bytes.
WAIT_FOR_DELETION = 30.0
_POLL = 0.05


class Publications:
    def __init__(self, meta: MetadataStore, clock: Clock) -> None:
        self.meta, self.clock = meta, clock

    def pin(self, digest: str, size: int) -> str:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + WAIT_FOR_DELETION
        while not self.meta.pin_blob(token, digest, size, self.clock.now(), PIN_LEASE):
            if time.monotonic() > deadline:
                raise BlobNotFound(
                    "the blob is being garbage collected; upload it again", digest=digest
                )
            time.sleep(_POLL)
        return token

    def release(self, token: str, digest: str) -> None:
        """Call inside the transaction that links the published blob."""
        if not self.meta.unpin_blob(token, digest, self.clock.now()):
            raise BlobNotFound(
                "the blob was garbage collected while it was published; upload it again",
                digest=digest,
            )

    def abandon(self, token: str, digest: str) -> None:
        """Publishing failed: drop the pin (the blob row goes with the next collection)."""
        self.meta.unpin_blob(token, digest, self.clock.now())
