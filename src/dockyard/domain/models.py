"""Records the metadata store hands to services. Plain data, no behaviour that touches I/O."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Repository:
    id: int
    account_id: str
    name: str
    created_at: float
    tag_mutability: str = "MUTABLE"
    mutability_exclusions: tuple[str, ...] = ()
    scan_on_push: bool = False
    encryption: dict[str, str] = field(default_factory=lambda: {"encryptionType": "AES256"})


@dataclass(frozen=True)
class NewImage:
    """What a push knows about an image before it is stored."""

    digest: str
    manifest: bytes
    media_type: str
    artifact_media_type: str | None
    size_bytes: int
    subject_digest: str | None
    child_digests: tuple[str, ...]
    blob_digests: tuple[str, ...]


@dataclass(frozen=True)
class Image:
    id: int
    repo_id: int
    digest: str
    media_type: str
    artifact_media_type: str | None
    size_bytes: int
    pushed_at: float
    last_pulled_at: float | None
    subject_digest: str | None
    status: str = "ACTIVE"
    archived_at: float | None = None
    activated_at: float | None = None
    manifest: bytes | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Upload:
    id: str
    repo_id: int
    size: int
    created_at: float


@dataclass(frozen=True)
class SavedImage:
    """Outcome of storing a pushed manifest."""

    image: Image
    created: bool
    untagged_image_id: int | None = None
