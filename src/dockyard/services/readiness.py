"""What `/readyz` checks: that each store answers (api/health.py runs the checks)."""

from __future__ import annotations

from collections.abc import Callable

from dockyard.ports import BlobStore, MetadataStore


class Readiness:
    def __init__(self, meta: MetadataStore, blobs: BlobStore) -> None:
        self.meta, self.blobs = meta, blobs

    def checks(self) -> dict[str, Callable[[], None]]:
        """Name -> a probe that raises when that store cannot be used."""
        return {"database": self.meta.probe, "blob_store": self.blobs.probe}
