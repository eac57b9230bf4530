"""Blob reads and deletes, always through a repository the caller may see."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dockyard.domain.digests import parse_digest
from dockyard.domain.errors import BlobArchived, BlobNotFound, DigestInvalid, LayerInaccessible
from dockyard.domain.ranges import ByteRange, requested_range
from dockyard.ports import BlobStore, LocalBlobFiles, MetadataStore
from dockyard.services.clock import Clock
from dockyard.services.gc import TOUCH_FRESH
from dockyard.services.placement import bounded
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

    def chunks(self, read: BlobRead) -> Iterator[bytes]:
        """The bytes `open` found, in chunks of about 1 MiB."""
        return read.chunks(self.store)

    def local_file(self, read: BlobRead) -> str | None:
        """The path of the blob's local file, when the store keeps plain files (the server
        may then hand it to the kernel); None otherwise."""
        if not isinstance(self.store, LocalBlobFiles):
            return None
        return self.store.local_file(read.digest)

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

    @bounded
    def open(
        self,
        account_id: str,
        name: str,
        digest_text: str,
        range_header: str | None,
        redirect: bool,
        reading: bool = False,
    ) -> BlobRead:
        """The blob's size, range and redirect; `reading` (a GET) also refuses the layers only
        archived images use (a HEAD still finds them, so pushing the image again restores it)."""
        size = self.stat(account_id, name, digest_text)
        digest = str(parse_digest(digest_text))
        if reading:
            self._refuse_archived(account_id, name, digest)
        byte_range = requested_range(range_header, size)
        url = self.store.redirect_url(digest) if redirect and byte_range is None else None
        return BlobRead(digest, size, byte_range, url)

    def _refuse_archived(self, account_id: str, name: str, digest: str) -> None:
        repo = self.repos.get(account_id, name)
        if self.meta.archived_only_blobs(repo.id, [digest]):
            raise BlobArchived(
                f"The layer with digest {digest} is used only by archived images "
                f"of the repository '{name}'; restore an image that uses it"
            )

    def availability(
        self, account_id: str, name: str, digests: list[str]
    ) -> list[tuple[str, int | None, str | None, str]]:
        """BatchCheckLayerAvailability: (digest, size or None, reason it is malformed or None,
        AVAILABLE | UNAVAILABLE | ARCHIVED: only archived images of the repository use it)."""
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
        found = [(d, None if d in gone else size, why) for d, size, why in found]
        archived = self.meta.archived_only_blobs(repo.id, [d for d, size, _ in found if size])
        return [
            (
                d,
                size,
                problem,
                "UNAVAILABLE" if size is None else "ARCHIVED" if d in archived else "AVAILABLE",
            )
            for d, size, problem in found
        ]

    def download_url(self, account_id: str, name: str, digest_text: str) -> BlobRead:
        """GetDownloadUrlForLayer: only layers an image of the repository references."""
        read = self.open(account_id, name, digest_text, None, redirect=True)
        repo = self.repos.get(account_id, name)
        if self.meta.archived_only_blobs(repo.id, [read.digest]):
            raise LayerInaccessible(
                f"The layer with digest {read.digest} is used only by "
                f"archived images of the repository with name '{name}'"
            )
        if not self.meta.blob_referenced(repo.id, read.digest):
            raise LayerInaccessible(
                f"The layer with digest {read.digest} is not referenced by "
                f"any image in the repository with name '{name}'"
            )
        return read

    @bounded
    def unlink(self, account_id: str, name: str, digest_text: str) -> None:
        """Remove the blob from the repository; bytes go when garbage collection finds no user."""
        digest = str(parse_digest(digest_text))
        repo = self.repos.get(account_id, name)
        if not self.meta.unlink_blob(repo.id, digest):
            raise BlobNotFound("blob unknown to registry", digest=digest)
