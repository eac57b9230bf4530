"""Records the metadata store hands to services. Plain data, no behaviour that touches I/O."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum


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
    policy: str | None = None


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
    hash_state: bytes | None = None  # the running SHA-256 after `size` bytes, when saved
    # Moves by one with every acknowledged chunk: the compare-and-set key of one writer at a time.
    generation: int = 0
    # The blob store's names of the acknowledged segments, in byte order (one per chunk).
    segments: tuple[str, ...] = ()


@dataclass(frozen=True)
class SavedImage:
    """Outcome of storing a pushed manifest."""

    image: Image
    created: bool
    untagged_image_id: int | None = None


@dataclass(frozen=True)
class RepositorySettings:
    """What CreateRepository may set; the defaults are what a push-created repository gets."""

    tag_mutability: str = "MUTABLE"
    mutability_exclusions: tuple[str, ...] = ()
    scan_on_push: bool = False
    encryption: dict[str, str] = field(default_factory=lambda: {"encryptionType": "AES256"})
    resource_tags: dict[str, str] = field(default_factory=dict)


class Unchanged(Enum):
    """A setting a change set leaves as it is (None may be a value: no policy)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True)
class RepositoryChanges:
    """The settings of a repository one call changes; the others keep their values."""

    tag_mutability: str | Unchanged = UNCHANGED
    mutability_exclusions: tuple[str, ...] | Unchanged = UNCHANGED
    scan_on_push: bool | Unchanged = UNCHANGED
    policy: str | None | Unchanged = UNCHANGED

    def changed(self) -> dict[str, object]:
        """Setting name -> new value, for the settings this set changes."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) is not UNCHANGED
        }


@dataclass(frozen=True)
class ImageKey:
    """Keyset position in a repository's listing: images ordered by (pushed_at, id)."""

    pushed_at: float
    id: int


@dataclass(frozen=True)
class ImageEntryKey:
    """Keyset position in ListImages: one entry per (image, tag); '' for an untagged image."""

    pushed_at: float
    id: int
    tag: str


@dataclass(frozen=True)
class ImageEntry:
    image: Image
    tag: str | None

    @property
    def key(self) -> ImageEntryKey:
        return ImageEntryKey(self.image.pushed_at, self.image.id, self.tag or "")


@dataclass(frozen=True)
class ScanRecord:
    """The last scan of an image: its status and, once complete, its findings (as ECR JSON)."""

    image_id: int
    scan_type: str  # BASIC or ENHANCED
    status: str  # IN_PROGRESS, COMPLETE, FAILED, ACTIVE, ...
    description: str
    started_at: float
    completed_at: float | None = None
    source_updated_at: float | None = None
    severity_counts: dict[str, int] = field(default_factory=dict)
    findings_json: str = "[]"


@dataclass(frozen=True)
class Job:
    """Background work claimed through the database, so each job runs once across processes."""

    id: int
    kind: str
    payload: str
    attempts: int = 0


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in console user. `key` is a hash of the cookie's secret, never the secret."""

    key: str
    account_id: str
    principal: str
    csrf_token: str
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class RepositorySummary:
    """One row of the console's repository list: the repository and what it holds."""

    repository: Repository
    image_count: int
    stored_bytes: int  # the blobs the repository links, each counted once
    last_pushed_at: float | None


@dataclass(frozen=True)
class AccountStorage:
    """Stored bytes of an account: blobs shared by repositories count once in `stored_bytes`."""

    repository_count: int
    image_count: int
    stored_bytes: int


@dataclass(frozen=True)
class LifecyclePolicyRecord:
    """A repository's stored lifecycle policy."""

    repo_id: int
    text: str
    last_evaluated_at: float | None = None
    account_id: str = ""  # filled where a scheduled run needs to name the repository
    repository_name: str = ""


@dataclass(frozen=True)
class LifecyclePreviewRecord:
    """The last lifecycle policy preview of a repository; `results` is JSON once COMPLETE."""

    repo_id: int
    text: str
    status: str  # IN_PROGRESS, COMPLETE or FAILED (EXPIRED is derived when read)
    started_at: float
    results: str | None = None
