"""The ports: what services need from storage. Backends implement these; services import only these.

Blob store key space and atomicity are the backend's business; the contract suites in
tests/contract/ say what every implementation must do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from dockyard.domain.models import Image, NewImage, Repository, SavedImage, Upload


class UploadWriter(Protocol):
    """Appends to an upload in progress. Called from worker threads, one writer at a time."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> int:
        """Make every byte written durable and return the upload's total size."""
        ...

    def abort(self) -> None:
        """Drop what this writer added since it was opened."""
        ...


class BlobStore(Protocol):
    """Immutable content-addressed bytes plus the staging area of uploads in progress."""

    #: True when reads are cheap enough to run on the event loop (local page cache).
    reads_are_local: bool

    def probe(self) -> None:
        """Raise with a helpful message if the store cannot be used."""
        ...

    def stat(self, digest: str) -> int | None:
        """Size of a published blob, or None."""
        ...

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream a published blob (or a range of it) in chunks of about 1 MiB."""
        ...

    def redirect_url(self, digest: str) -> str | None:
        """A URL a client may fetch the blob from directly, when the store offers one."""
        ...

    def delete(self, digest: str) -> None: ...

    def list(self) -> Iterator[str]: ...

    def start_upload(self, upload_id: str) -> None: ...

    def open_upload(self, upload_id: str, offset: int) -> UploadWriter:
        """Writer positioned at `offset`; bytes past it (from an unacknowledged write) are dropped."""
        ...

    def read_upload(self, upload_id: str, size: int) -> Iterator[bytes]:
        """The first `size` bytes of an upload, to re-hash when no running hash is at hand."""
        ...

    def publish_upload(self, upload_id: str, digest: str, size: int) -> None:
        """Atomically make the upload's first `size` bytes the blob `digest`; no-op if it exists."""
        ...

    def abort_upload(self, upload_id: str) -> None: ...


class RepositoryStore(Protocol):
    def create_repository(self, account_id: str, name: str, now: float) -> Repository: ...

    def get_repository(self, account_id: str, name: str) -> Repository | None: ...

    def list_repository_names(self, account_id: str, after: str | None, limit: int) -> list[str]: ...

    def delete_repository(self, repo_id: int) -> None: ...


class BlobIndex(Protocol):
    """Which blobs exist and which repositories may reference them."""

    def link_blob(self, repo_id: int, digest: str, size: int, now: float) -> None: ...

    def linked_blob_size(self, repo_id: int, digest: str) -> int | None: ...

    def unlink_blob(self, repo_id: int, digest: str) -> bool: ...

    def unlinked_blobs(self, repo_id: int, digests: Sequence[str]) -> list[str]: ...


class ImageStore(Protocol):
    def save_image(
        self, repo_id: int, image: NewImage, tag: str | None, may_move_tag: bool, now: float
    ) -> SavedImage:
        """Store an image (idempotent by digest) and point `tag` at it, in one transaction.

        Raises TagImmutable when `tag` points at another image and `may_move_tag` is false.
        """
        ...

    def get_image(self, repo_id: int, digest: str, with_manifest: bool = False) -> Image | None: ...

    def get_image_by_tag(self, repo_id: int, tag: str, with_manifest: bool = False) -> Image | None: ...

    def images_by_digests(self, repo_id: int, digests: Sequence[str]) -> list[Image]: ...

    def parents_of(self, repo_id: int, digest: str) -> list[str]:
        """Digests of the indexes in the repository that list `digest` as a child."""
        ...

    def delete_image(self, repo_id: int, digest: str) -> bool: ...

    def delete_tag(self, repo_id: int, tag: str) -> bool: ...

    def list_tags(self, repo_id: int, after: str | None, limit: int | None) -> list[str]: ...

    def referrers(self, repo_id: int, subject_digest: str) -> list[Image]: ...

    def record_pulls(self, pulls: dict[int, float]) -> None:
        """Set last-pull times (image id -> time), never moving one backwards."""
        ...


class UploadStore(Protocol):
    def create_upload(self, upload: Upload) -> None: ...

    def get_upload(self, upload_id: str) -> Upload | None: ...

    def set_upload_size(self, upload_id: str, size: int) -> None: ...

    def delete_upload(self, upload_id: str) -> None: ...


class MetadataStore(RepositoryStore, BlobIndex, ImageStore, UploadStore, Protocol):
    """Everything services need from the metadata database."""

    def probe(self) -> None: ...

    def close(self) -> None: ...
