"""Blob reads and deletes, always through a repository the caller may see."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dockyard.domain.digests import parse_digest
from dockyard.domain.errors import BlobNotFound, DigestInvalid, LayerInaccessible
from dockyard.domain.ranges import ByteRange, requested_range
from dockyard.ports import BlobStore, MetadataStore
from dockyard.services.clock import Clock
from dockyard.services.gc import TOUCH_FRESH
from dockyard.services.repositories import RepositoryService


@dataclass(frozen=True)
class BlobRead:
    digest: str
    size: int
    range: ByteRange | None
    redirect_url: str | None

    def chunks(self, store: BlobStore) -> Iterator[bytes]:
        if self.range is None:
            return store.read(self.digest)
        return store.read(self.digest, self.range.start, self.range.length)


class BlobService:
    def __init__(
        self, meta: MetadataStore, blobs: BlobStore, repos: RepositoryService, clock: Clock
    ) -> None:
        self.meta, self.store, self.repos, self.clock = meta, blobs, repos, clock

    def stat(self, account_id: str, name: str, digest_text: str) -> int:
        digest = str(parse_digest(digest_text))
        repo = self.repos.get(account_id, name)
        size = self.meta.linked_blob_size(repo.id, digest)
        if size is None or self._observe([digest]) or self.store.stat(digest) is None:
            raise BlobNotFound("blob unknown to registry", digest=digest)
        return size

    def _observe(self, digests: list[str]) -> set[str]:
        """Touch blobs a client saw (it may name them in a manifest without uploading them);
        the ones garbage collection is deleting, which count as absent (services/gc.py)."""
        return self.meta.touch_blobs(digests, self.clock.now(), TOUCH_FRESH)

    def open(
        self, account_id: str, name: str, digest_text: str, range_header: str | None, redirect: bool
    ) -> BlobRead:
        size = self.stat(account_id, name, digest_text)
        digest = str(parse_digest(digest_text))
        byte_range = requested_range(range_header, size)
        url = self.store.redirect_url(digest) if redirect and byte_range is None else None
        return BlobRead(digest, size, byte_range, url)

    def availability(
        self, account_id: str, name: str, digests: list[str]
    ) -> list[tuple[str, int | None, str | None]]:
        """BatchCheckLayerAvailability: (digest, size or None, reason it is malformed or None)."""
        repo = self.repos.get(account_id, name)
        found: list[tuple[str, int | None, str | None]] = []
        for digest in digests:
            try:
                parse_digest(digest)
            except DigestInvalid as exc:
                found.append((digest, None, exc.message))
                continue
            found.append((digest, self.meta.linked_blob_size(repo.id, digest), None))
        gone = self._observe([digest for digest, size, _ in found if size is not None])
        return [(d, None if d in gone else size, why) for d, size, why in found]

    def download_url(self, account_id: str, name: str, digest_text: str) -> BlobRead:
        """GetDownloadUrlForLayer: only layers an image of the repository references."""
        read = self.open(account_id, name, digest_text, None, redirect=True)
        repo = self.repos.get(account_id, name)
        if not self.meta.blob_referenced(repo.id, read.digest):
            raise LayerInaccessible(f"The layer with digest {read.digest} is not referenced by "
                                    f"any image in the repository with name '{name}'")
        return read

    def unlink(self, account_id: str, name: str, digest_text: str) -> None:
        """Remove the blob from the repository; bytes go when garbage collection finds no user."""
        digest = str(parse_digest(digest_text))
        repo = self.repos.get(account_id, name)
        if not self.meta.unlink_blob(repo.id, digest):
            raise BlobNotFound("blob unknown to registry", digest=digest)
