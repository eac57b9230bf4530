"""Archive and restore: the storage class of images (UpdateImageStorageClass, lifecycle, re-push).

    ACTIVE --archive--> ARCHIVED --restore--> ACTIVATING --(restore delay passed)--> ACTIVE

A restore takes `restore_seconds` (ECR: "typically up to 20 minutes"; Dockyard's default 0 makes
it ACTIVE at the next background tick, about a second). `finish_restores` runs on that tick in
every server, and in `dockyard lifecycle run`. Archived and restoring images cannot be pulled,
scanned, or have their layers downloaded (services/blobs.py); pushing an archived image again
restores it, as on ECR.
"""

from __future__ import annotations

from dockyard.domain.models import Image, Repository
from dockyard.ports import MetadataStore
from dockyard.services.clock import Clock


class ArchiveService:
    def __init__(self, meta: MetadataStore, clock: Clock, restore_seconds: float = 0.0) -> None:
        self.meta, self.clock, self.restore_seconds = meta, clock, restore_seconds

    def archive(self, repo: Repository, digest: str) -> Image | None:
        return self.meta.set_image_status(repo.id, digest, "ARCHIVED", self.clock.now())

    def restore(self, repo: Repository, digest: str) -> Image | None:
        """Start restoring an archived image (ACTIVATING); other images are returned as they are."""
        now = self.clock.now()
        return self.meta.request_activation(repo.id, digest, now, now + self.restore_seconds)

    def on_repushed(self, repo: Repository, image: Image) -> None:
        if image.status == "ARCHIVED":
            self.restore(repo, image.digest)

    def finish_restores(self, now: float | None = None) -> int:
        return self.meta.finish_activations(self.clock.now() if now is None else now)
