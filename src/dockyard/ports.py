"""The ports: what services need from storage. Backends implement these; services import only these.

Blob store key space and atomicity are the backend's business; the contract suites in
tests/contract/ say what every implementation must do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dockyard.domain.events import Delivery, OutboxEntry
from dockyard.domain.lifecycle import ImageFacts
from dockyard.domain.models import (
    AccountStorage,
    ConsoleSession,
    Image,
    ImageEntry,
    ImageEntryKey,
    ImageKey,
    Job,
    LifecyclePolicyRecord,
    LifecyclePreviewRecord,
    NewImage,
    Repository,
    RepositoryChanges,
    RepositorySettings,
    RepositorySummary,
    SavedImage,
    ScanRecord,
    Upload,
)
from dockyard.domain.pull_through import PullThroughRule
from dockyard.domain.replication import DestinationStatus, NewTask, ReplicationStatus
from dockyard.domain.replication import Task as ReplicationTask
from dockyard.domain.scanning import Finding, Inventory
from dockyard.domain.templates import CreationTemplate


class UploadWriter(Protocol):
    """Writes one chunk of an upload into a segment of its own. Called from worker threads.

    Nothing another request reads or writes is touched: two writers of one upload (racing
    requests) write two segments, and the upload service acknowledges at most one of them.
    """

    #: The segment's name, unique to this writer; recorded in the metadata store once acknowledged.
    segment: str

    def write(self, data: bytes | memoryview) -> None: ...

    def close(self) -> int:
        """Make every byte written durable and return the upload's total size after them."""
        ...

    def abort(self) -> None:
        """Drop the segment."""
        ...


class BlobStore(Protocol):
    """Immutable content-addressed bytes plus the staging area of uploads in progress.

    An upload is a chain of segments, one per acknowledged chunk, named by the writers that
    wrote them; the metadata store keeps the chain (`Upload.segments`). A segment is never
    written again once its writer closed it, so bytes that were hashed stay the bytes.
    """

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

    def stored_digest(
        self, digest: str, progress: Callable[[int], None] | None = None
    ) -> str | None:
        """Hash every byte stored under `digest` with its algorithm: the hex digest the bytes
        really have (None if there is no such blob). `progress` is told of each batch read."""
        ...

    def quarantine(self, digest: str) -> str | None:
        """Move a published blob aside so it is no longer served; where it went (None if absent)."""
        ...

    def start_upload(self, upload_id: str) -> None: ...

    def open_upload(self, upload_id: str, offset: int) -> UploadWriter:
        """A writer of a new segment holding the upload's bytes from `offset` on."""
        ...

    def read_upload(self, upload_id: str, segments: Sequence[str], size: int) -> Iterator[bytes]:
        """The first `size` bytes of the chain `segments`, to re-hash when no hash is at hand."""
        ...

    def publish_upload(
        self, upload_id: str, segments: Sequence[str], digest: str, size: int
    ) -> bool:
        """Make the first `size` bytes of the chain `segments` the blob `digest`. Never
        replaces a blob nor is replaced: if `digest` exists (or appears meanwhile) the first
        copy stays. True when this call created the blob. The upload stays until
        `abort_upload` (the caller settles the session first)."""
        ...

    def publish_data(self, upload_id: str, digest: str, data: bytes | memoryview) -> bool:
        """End an upload that holds no acknowledged bytes with the whole blob at hand, verified.

        Makes `data` the blob `digest` (never replacing one) without staging it, and drops the
        upload. The one-request path of small blobs: one PutObject on S3. True when created.
        """
        ...

    def abort_upload(self, upload_id: str) -> None: ...

    # What garbage collection reclaims without a metadata row (services/gc_strays.py). Ages
    # are the store's own timestamps (seconds since the epoch), never a simulated `--now`.

    def stored_blobs(self) -> Iterator[StoredBlob]:
        """Every published blob with its size and when it was stored, in digest order,
        streamed (memory stays flat whatever the store holds)."""
        ...

    def idle_uploads(self, idle_since: float) -> Iterator[str]:
        """Ids of the uploads whose staging was last written before `idle_since` and that no
        writer holds open (where the store can tell): candidates for `abort_upload`."""
        ...


class RepositoryStore(Protocol):
    def create_repository(self, account_id: str, name: str, now: float) -> Repository: ...

    def get_repository(self, account_id: str, name: str) -> Repository | None: ...

    def list_repository_names(
        self, account_id: str, after: str | None, limit: int
    ) -> list[str]: ...

    def delete_repository(self, repo_id: int) -> None: ...


class BlobIndex(Protocol):
    """Which blobs exist and which repositories may reference them."""

    def link_blob(self, repo_id: int, digest: str, size: int, now: float) -> None: ...

    def linked_blob_size(self, repo_id: int, digest: str) -> int | None: ...

    def unlink_blob(self, repo_id: int, digest: str) -> bool: ...

    def linked_blob_sizes(self, repo_id: int, digests: Sequence[str]) -> dict[str, int]:
        """The size of each of `digests` the repository links (one query); others are absent."""
        ...


class RepositoryBlobs(Protocol):
    """Every blob a repository may reference (what `dockyard verify --repository` checks)."""

    def linked_digests(self, repo_id: int) -> list[str]:
        """Digests linked to the repository, sorted."""
        ...


class ImageStore(Protocol):
    def save_image(
        self, repo_id: int, image: NewImage, tag: str | None, may_move_tag: bool, now: float
    ) -> SavedImage:
        """Store an image (idempotent by digest) and point `tag` at it, in one transaction.

        Raises TagImmutable when `tag` points at another image and `may_move_tag` is false.
        """
        ...

    def get_image(self, repo_id: int, digest: str, with_manifest: bool = False) -> Image | None: ...

    def get_image_by_tag(
        self, repo_id: int, tag: str, with_manifest: bool = False
    ) -> Image | None: ...

    def images_by_digests(
        self, repo_id: int, digests: Sequence[str], with_manifest: bool = False
    ) -> list[Image]:
        """Images found, in the order of `digests` (first occurrence), missing ones left out."""
        ...

    def parents_of(self, repo_id: int, digest: str) -> list[str]:
        """Digests of the indexes in the repository that list `digest` as a child."""
        ...

    def blob_referenced(self, repo_id: int, digest: str) -> bool:
        """Whether an image of the repository lists the blob as its config or a layer."""
        ...

    def delete_image(self, repo_id: int, digest: str) -> bool: ...

    def delete_tag(self, repo_id: int, tag: str) -> bool: ...

    def list_tags(self, repo_id: int, after: str | None, limit: int | None) -> list[str]: ...

    def referrers(self, repo_id: int, subject_digest: str) -> list[Image]: ...

    def record_pulls(self, pulls: dict[int, float]) -> None:
        """Set last-pull times (image id -> time), never moving one backwards."""
        ...


class UploadStore(Protocol):
    """Upload sessions; they move only by compare-and-set on `Upload.generation`."""

    def create_upload(self, upload: Upload) -> None: ...

    def get_upload(self, upload_id: str) -> Upload | None: ...

    def advance_upload(
        self, upload: Upload, size: int, segment: str, hash_state: bytes | None = None
    ) -> Upload | None:
        """Acknowledge a chunk: if the session is still at `upload.generation`, append
        `segment`, set the size (and the SHA-256 state after it, when there is one) and move
        the generation on; the session as stored. None, changing nothing, when another writer
        moved it first or it is gone."""
        ...

    def delete_upload(self, upload_id: str) -> None: ...

    def finish_upload(
        self,
        upload_id: str,
        repo_id: int,
        digest: str,
        size: int,
        now: float,
        generation: int | None = None,
    ) -> bool:
        """Link the published blob to the repository and drop the upload, in one transaction.

        With `generation`, only if the session is still at it: False, and nothing linked, when
        another request moved or finished it (or the repository's deletion took it). Without
        it (a one-request upload that has no session row) the blob is linked. Raises
        RepositoryNotFound if the repository is gone.
        """
        ...


class RepositoryAdmin(Protocol):
    """Repository settings the ECR control plane reads and changes."""

    def create_configured_repository(
        self, account_id: str, name: str, settings: RepositorySettings, now: float
    ) -> Repository:
        """Like create_repository, with settings and resource tags, in one transaction."""
        ...

    def list_repositories(
        self, account_id: str, names: Sequence[str] | None, after: str | None, limit: int
    ) -> list[Repository]:
        """Repositories by name order, strictly after `after`; only `names` when given."""
        ...

    def update_repository(self, repo_id: int, changes: RepositoryChanges) -> Repository:
        """Change any of tag_mutability, mutability_exclusions, scan_on_push, policy."""
        ...

    def has_images(self, repo_id: int) -> bool: ...

    def resource_tags(self, repo_id: int) -> dict[str, str]: ...

    def set_resource_tags(self, repo_id: int, tags: dict[str, str]) -> None:
        """Add or overwrite resource tags."""
        ...

    def remove_resource_tags(self, repo_id: int, keys: Sequence[str]) -> None: ...


class ImageListing(Protocol):
    """The paged views DescribeImages and ListImages are built on: one range scan a page."""

    def list_images(
        self,
        repo_id: int,
        after: ImageKey | None,
        limit: int,
        tag_status: str = "ANY",
        image_status: str = "ANY",
    ) -> list[Image]:
        """Images ordered by (pushed_at, id) strictly after `after`, tags filled in one query.

        tag_status: TAGGED, UNTAGGED or ANY; image_status: ACTIVE, ARCHIVED, ACTIVATING or ANY.
        """
        ...

    def list_image_entries(
        self,
        repo_id: int,
        after: ImageEntryKey | None,
        limit: int,
        tag_status: str = "ANY",
        image_status: str = "ANY",
    ) -> list[ImageEntry]:
        """(image, tag) pairs ordered by (pushed_at, id, tag), an untagged image once with tag None."""
        ...

    def images_by_tags(self, repo_id: int, tags: Sequence[str]) -> dict[str, Image]:
        """Tag -> image for the tags that exist, tags filled."""
        ...

    def set_image_status(self, repo_id: int, digest: str, status: str, now: float) -> Image | None:
        """ARCHIVED sets archived_at, ACTIVE sets activated_at; None if the image is gone."""
        ...


class AccountStore(Protocol):
    """Per-account settings, pull-time exclusions and server secrets."""

    def get_account_setting(self, account_id: str, name: str) -> str | None: ...

    def put_account_setting(self, account_id: str, name: str, value: str) -> None: ...

    def add_pull_exclusion(self, account_id: str, principal: str, now: float) -> bool:
        """False when the principal was already excluded."""
        ...

    def remove_pull_exclusion(self, account_id: str, principal: str) -> bool: ...

    def list_pull_exclusions(self, account_id: str, after: str | None, limit: int) -> list[str]: ...

    def secret(self, name: str, create: bytes) -> bytes:
        """The secret stored under `name`; stores `create` first if there is none (race-safe)."""
        ...


class VulnerabilityScanner(Protocol):
    """The scanning engine: what an image contains, and what is known to be wrong with it."""

    def inventory(self, manifest: bytes, media_type: str, blobs: BlobStore) -> Inventory:
        """Read the image's layers (raises ScanFailed with a reason)."""
        ...

    def match(self, inventory: Inventory, enhanced: bool, ordered: bool = True) -> list[Finding]:
        """The findings: by severity, id and package when `ordered` (as `dockyard scan` prints
        them), else in no particular order, for a caller that sorts them its own way."""
        ...

    def source_updated_at(self) -> float | None:
        """When the vulnerability data was last updated; None when none is loaded."""
        ...

    def generation(self) -> str:
        """Changes whenever the vulnerability data changes (rescans follow)."""
        ...


#: How long after passing a finding document to put_scan a caller may name it by key alone, and
#: how long a sweep must leave documents alone after a put_scan passed them (one hour for the
#: store to refresh a document's use, which it does at most hourly, plus a margin for clocks).
DOCUMENT_REUSE = 1800.0
DOCUMENT_GRACE = 3 * 3600.0


class ScanStore(Protocol):
    """Scan results, cached inventories and the background job queue."""

    def get_scan(self, image_id: int) -> ScanRecord | None: ...

    def scans_for(self, image_ids: Sequence[int]) -> dict[int, ScanRecord]:
        """Scans of many images in one query (a DescribeImages page)."""
        ...

    def put_scan(
        self,
        record: ScanRecord,
        keys: Sequence[str] = (),
        documents: Mapping[str, str] | None = None,
    ) -> None:
        """Insert or replace the image's scan (dropped if the image is gone).

        A scan's findings are JSON documents shared by every scan that reports them: `keys`
        names the scan's findings in order, a key standing for one document's text (a hash of
        it). `documents` maps keys to their JSON; it must hold every key the caller has not
        passed with its document to a put_scan that returned within the last DOCUMENT_REUSE
        seconds (it may hold more; a document stored under a key is never replaced).
        `record.findings_json` is not stored: `get_scan` rebuilds it as the JSON array of the
        documents ("[" + ", ".join(documents) + "]").
        """
        ...

    def delete_unused_findings(self, before: float) -> int:
        """Delete the finding documents no scan names that no put_scan has passed since
        `before`, which must be at least DOCUMENT_GRACE seconds ago (so the documents a caller
        may still name without passing stay). How many went."""
        ...

    def scanned_images(self, scan_type: str, after: int, limit: int) -> list[tuple[int, int, str]]:
        """(image id, repository id, digest) of images whose last scan has this type, by id,
        strictly after `after`."""
        ...

    def get_inventory(self, digest: str) -> str | None: ...

    def put_inventory(self, digest: str, inventory_json: str) -> None: ...

    def enqueue_job(self, kind: str, payload: str, now: float) -> int: ...

    def enqueue_jobs(self, kind: str, payloads: Sequence[str], now: float) -> None:
        """Queue many jobs in one transaction, in order."""
        ...

    def claim_jobs(self, worker: str, now: float, lease_seconds: float, limit: int) -> list[Job]:
        """Take up to `limit` of the oldest jobs nobody holds (or whose holder's lease ran out),
        atomically, oldest first."""
        ...

    def finish_jobs(self, job_ids: Sequence[int]) -> None: ...


# -- the web console ----------------------------------------------------------------------------


class ConsoleSessionStore(Protocol):
    """Console sign-ins, in the database so every server process knows every session."""

    def create_session(self, session: ConsoleSession) -> None: ...

    def get_session(self, key: str) -> ConsoleSession | None: ...

    def delete_session(self, key: str) -> None: ...

    def delete_sessions_expired(self, now: float) -> int:
        """Drop the sessions whose expires_at is before `now`; how many went."""
        ...


class RepositoryOverview(Protocol):
    """The console's views across a repository or an account, each a bounded query."""

    def repository_summaries(
        self, account_id: str, search: str, after: str | None, limit: int
    ) -> list[RepositorySummary]:
        """Repositories whose name contains `search`, by name strictly after `after`."""
        ...

    def images_newest_first(
        self,
        repo_id: int,
        before: ImageKey | None,
        limit: int,
        tag_status: str = "ANY",
        image_status: str = "ANY",
    ) -> list[Image]:
        """Like ImageListing.list_images in the reverse order: (pushed_at, id) descending,
        strictly before `before`, tags filled in one query."""
        ...

    def account_storage(self, account_id: str) -> AccountStorage: ...


# -- events ------------------------------------------------------------------------------------


class OutboxStore(Protocol):
    """The durable outbox of webhook deliveries (see services/events.py).

    Entries are added inside the transaction of the change they report (`atomic()`), so a change
    and its events commit together. Claiming is a job claim: concurrent dispatchers, in any
    process, take different entries; a claim whose lease ran out (its holder died) is free again.
    """

    def add_outbox_entries(self, entries: Sequence[OutboxEntry]) -> None: ...

    def claim_deliveries(
        self, worker: str, now: float, lease_seconds: float, limit: int
    ) -> list[Delivery]:
        """Up to `limit` PENDING entries due by `now` that nobody holds, oldest first."""
        ...

    def delivered(self, delivery_id: int) -> None:
        """The receiver took it: the entry goes."""
        ...

    def retry_delivery(self, delivery_id: int, next_attempt_at: float, error: str) -> None:
        """One more failed attempt: counted, released, due again at `next_attempt_at`."""
        ...

    def bury_delivery(self, delivery_id: int, error: str) -> None:
        """Give up: the entry stays, DEAD, with its last error, and is never claimed again."""
        ...

    def delete_dead_deliveries(self) -> int:
        """Drop the entries given up on (after an operator looked at them); how many went."""
        ...

    def outbox_counts(self) -> dict[str, int]:
        """Entries by state (PENDING, DEAD): for operators and tests."""
        ...

    def repository_name(self, repo_id: int) -> tuple[str, str] | None:
        """(account, name) of a repository, for events about work queued by id (scans)."""
        ...


class WebhookSender(Protocol):
    """POSTs one event body; the HTTP client is the backend's business."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        """The response status; raises OSError when no response came (refused, timed out)."""
        ...


# -- lifecycle policies and archive restores ---------------------------------------------------


class LifecycleStore(Protocol):
    """Lifecycle policies, their scheduled runs and previews, and restores from archive.

    A run or a preview is claimed with a lease (`claimed_until`, on the caller's wall clock): a
    claim succeeds only when nobody holds a lease that is still running, so across processes
    one evaluation of a repository runs at a time, and a holder that died is replaced once its
    lease has run out.
    """

    def get_lifecycle_policy(self, repo_id: int) -> LifecyclePolicyRecord | None: ...

    def put_lifecycle_policy(self, repo_id: int, text: str, now: float) -> None: ...

    def delete_lifecycle_policy(self, repo_id: int) -> LifecyclePolicyRecord | None:
        """Delete and return the policy; None if there was none."""
        ...

    def lifecycle_facts(self, repo_id: int) -> list[ImageFacts]:
        """Every image of the repository with its tags and parents, in a few queries."""
        ...

    def expire_images(self, repo_id: int, image_ids: Sequence[int]) -> int:
        """Delete these images of the repository with their tags, references and scans, as
        delete_image does one at a time (bytes stay for garbage collection); how many went."""
        ...

    def archive_images(self, repo_id: int, image_ids: Sequence[int], now: float) -> int:
        """Make these ACTIVE images of the repository ARCHIVED as of `now`; how many changed."""
        ...

    def claim_lifecycle_runs(
        self,
        worker: str,
        now: float,
        due_before: float,
        lease_seconds: float,
        limit: int,
        after: int = 0,
    ) -> list[LifecyclePolicyRecord]:
        """Claim up to `limit` policies of repositories with ids above `after`, last evaluated
        (or, never evaluated, put) before `due_before`, whose lease is free; by repository id,
        so a caller walks them all once by passing the last id it got."""
        ...

    def finish_lifecycle_run(self, repo_id: int, worker: str, evaluated_at: float) -> None:
        """Record the evaluation and free the lease (a no-op if `worker` no longer holds it)."""
        ...

    def start_lifecycle_preview(
        self, repo_id: int, text: str, worker: str, now: float, lease_seconds: float
    ) -> bool:
        """Replace the repository's preview by an IN_PROGRESS one claimed by `worker`; False
        (nothing changed) while another preview is IN_PROGRESS under a running lease."""
        ...

    def claim_stale_previews(
        self, worker: str, now: float, lease_seconds: float
    ) -> list[LifecyclePreviewRecord]:
        """Take over IN_PROGRESS previews whose lease ran out (their process died)."""
        ...

    def finish_lifecycle_preview(
        self, repo_id: int, worker: str, status: str, results: str | None
    ) -> None: ...

    def get_lifecycle_preview(self, repo_id: int) -> LifecyclePreviewRecord | None: ...

    def request_activation(
        self, repo_id: int, digest: str, now: float, due_at: float
    ) -> Image | None:
        """Move an ARCHIVED image to ACTIVATING (lastActivatedAt = now) and note when it
        becomes ACTIVE; None if the image is gone. Other statuses are left as they are."""
        ...

    def finish_activations(self, now: float) -> int:
        """Make ACTIVE the ACTIVATING images whose restore is due; how many."""
        ...

    def archived_only_blobs(self, repo_id: int, digests: Sequence[str]) -> set[str]:
        """Those of `digests` that images of the repository reference, but only archived or
        restoring ones."""
        ...


# -- garbage collection (services/gc.py draws the blob state machine) ----------------------


@dataclass(frozen=True)
class BlobClaim:
    """A blob the sweep moved from candidate to deleting: its bytes may now be deleted."""

    digest: str
    size: int


@dataclass(frozen=True)
class StoredBlob:
    """A published blob as the blob store sees it (it may have no metadata row at all)."""

    digest: str
    size: int
    stored_at: float  # seconds since the epoch, by the store's clock


@dataclass(frozen=True)
class StorageUse:
    """Stored bytes of one repository (or account, with repository None): the distinct blobs
    its images name; `unique` counts only blobs no other repository (account) names."""

    account_id: str
    repository: str | None
    blobs: int
    total_bytes: int
    unique_bytes: int


class GarbageStore(Protocol):
    """Blob reachability and the garbage collector's compare-and-set state machine."""

    def touch_blobs(self, digests: Sequence[str], now: float, fresh_for: float) -> set[str]:
        """Record that clients saw these blobs now: a candidate goes back to live, a live blob
        last touched more than `fresh_for` seconds ago is touched again. Returns the digests
        that are being deleted (or gone): callers treat them as absent."""
        ...

    def hold_blobs(self, digests: Sequence[str], now: float) -> list[str]:
        """Inside a push's transaction: keep these blobs from being deleted until it commits.
        Candidates are revived; returns the digests that are deleting or gone (refuse the push)."""
        ...

    def pin_blob(self, token: str, digest: str, size: int, now: float, lease: float) -> bool:
        """Before publishing bytes as `digest`: create its row (live) if missing and pin it.
        False when the blob is being deleted (wait until it is gone, then publish anew)."""
        ...

    def unpin_blob(self, token: str, digest: str, now: float) -> bool:
        """Drop the pin and touch the blob; False if the pin or the blob was lost meanwhile
        (the published bytes may be gone: the upload must be refused)."""
        ...

    def adopt_blob(self, source_repo_id: int, target_repo_id: int, digest: str, now: float) -> bool:
        """A cross-repository mount: link the blob to the target if the source still links it
        and it is not being deleted, touching it. False otherwise."""
        ...

    def claim_lease(self, name: str, holder: str, now: float, seconds: float) -> bool:
        """Take or renew the named lease; False while another holder's lease runs."""
        ...

    def release_lease(self, name: str, holder: str) -> None: ...

    def mark_candidates(
        self, after: str, limit: int, cutoff: float, now: float, dry_run: bool = False
    ) -> tuple[str | None, int, int]:
        """Mark the unreferenced live blobs untouched since `cutoff` and not pinned at `now`
        among the next `limit` blobs by digest after `after`: (last digest looked at, or None
        at the end; blobs marked; their bytes). A dry run counts them and writes nothing."""
        ...

    def claim_for_deletion(
        self, after: str, limit: int, cutoff: float, now: float
    ) -> tuple[str | None, list[BlobClaim]]:
        """The compare-and-set candidate -> deleting over the next `limit` candidates by digest
        after `after`, for those still unreferenced, unpinned and untouched since `cutoff`, in
        one transaction: (last candidate looked at, or None at the end; the blobs claimed)."""
        ...

    def deleting(self, limit: int) -> list[BlobClaim]:
        """Blobs already deleting (a run that stopped before forgetting them)."""
        ...

    def forget_blobs(self, digests: Sequence[str]) -> None:
        """Drop the rows (and repository links) of deleting blobs whose bytes are gone; every
        deleting blob between the smallest and largest of `digests` must be among them (the
        collector forgets what it claimed, window by window, one collector at a time)."""
        ...

    def expired_uploads(self, before: float, after: str, limit: int) -> list[str]:
        """Ids (in order, after `after`) of upload sessions started before `before`."""
        ...

    def drop_upload(self, upload_id: str) -> bool: ...

    def drop_expired_pins(self, now: float) -> int: ...

    def blobs_without_rows(self, digests: Sequence[str]) -> list[str]:
        """Those of `digests` (at most a few thousand) that have no blob row at all."""
        ...

    def claim_strays(self, strays: Sequence[BlobClaim], now: float) -> list[BlobClaim]:
        """Insert rows for stored bytes that have none, straight as `deleting` (so a publisher
        of the same digest waits until they are gone); those inserted, in digest order. A
        digest that got a row meanwhile (an upload pinned it) is left alone."""
        ...

    def uploads_without_rows(self, upload_ids: Sequence[str]) -> list[str]:
        """Those of `upload_ids` that have no upload session row."""
        ...

    def storage_use(self) -> list[StorageUse]:
        """Per repository, then per account (repository None), in name order."""
        ...


# -- access policies and creation templates ----------------------------------------------------


class RegistryPolicyStore(Protocol):
    """One registry policy per account (PutRegistryPolicy), as text validated by the service."""

    def get_registry_policy(self, account_id: str) -> str | None: ...

    def get_access_policies(
        self, account_id: str, repository: str | None
    ) -> tuple[str | None, str | None]:
        """What the access check of one request reads, in one round trip: the account's
        registry policy and the policy of its repository `repository` (None when the
        repository, or its policy, does not exist, or when `repository` is None)."""
        ...

    def put_registry_policy(self, account_id: str, text: str, now: float) -> None: ...

    def delete_registry_policy(self, account_id: str) -> str | None:
        """Drop the account's policy; the text it had, None when there was none."""
        ...


class CreationTemplateStore(Protocol):
    """Repository creation templates by (account, prefix)."""

    def list_templates(self, account_id: str) -> list[CreationTemplate]:
        """Every template of the account, by prefix (an account holds a handful)."""
        ...

    def create_template(self, account_id: str, template: CreationTemplate) -> bool:
        """False when the account already has a template with this prefix."""
        ...

    def replace_template(self, account_id: str, template: CreationTemplate) -> bool:
        """Overwrite all but created_at; False when there is no template with this prefix."""
        ...

    def delete_template(self, account_id: str, prefix: str) -> bool: ...


# -- pull-through cache -------------------------------------------------------------------------


class PullThroughRuleStore(Protocol):
    """Pull-through cache rules by (account, prefix), and when each cached tag was checked."""

    def list_pull_through_rules(self, account_id: str) -> list[PullThroughRule]:
        """Every rule of the account, by prefix (at most 50)."""
        ...

    def create_pull_through_rule(self, account_id: str, rule: PullThroughRule) -> bool:
        """False when the account already has a rule with this prefix."""
        ...

    def replace_pull_through_rule(self, account_id: str, rule: PullThroughRule) -> bool:
        """Overwrite all but created_at; False when there is no rule with this prefix."""
        ...

    def delete_pull_through_rule(self, account_id: str, prefix: str) -> bool: ...

    def tag_checked_at(self, account_id: str, repository: str, tag: str) -> float | None:
        """When the cached tag was last compared with its upstream; None if never."""
        ...

    def record_tag_check(self, account_id: str, repository: str, tag: str, now: float) -> None: ...


class UpstreamManifest(Protocol):
    """A manifest as an upstream registry served it."""

    @property
    def body(self) -> bytes: ...

    @property
    def media_type(self) -> str: ...

    @property
    def digest(self) -> str:
        """As the upstream named it (Docker-Content-Digest), "" when it did not."""
        ...


class UpstreamClient(Protocol):
    """An OCI registry this one pulls from (backends/upstream). Errors: UpstreamError (a
    registry answering no, or not at all), UpstreamNotFound (it has no such content)."""

    def manifest(
        self, repository: str, reference: str, accepted: Sequence[str]
    ) -> UpstreamManifest: ...

    def manifest_digest(self, repository: str, reference: str, accepted: Sequence[str]) -> str:
        """The digest the upstream's tag points at now (a HEAD request)."""
        ...

    def blob(self, repository: str, digest: str) -> AbstractContextManager[Iterator[bytes]]:
        """The blob's bytes as they arrive (unverified: the caller hashes them)."""
        ...

    def check(self, repository: str) -> None:
        """Authenticate against the upstream (ValidatePullThroughCacheRule); raise if refused."""
        ...


class UpstreamConnector(Protocol):
    """Clients of upstream registries, one per (base URL, credentials)."""

    def client(self, base_url: str, username: str | None, secret: str | None) -> UpstreamClient: ...


# -- replication -------------------------------------------------------------------------------


class ReplicationStore(Protocol):
    """Each account's replication configuration, and the durable queue of copies, whose rows are
    also the statuses DescribeImageReplicationStatus reports (one per image and destination).

    Tasks are queued inside the push's transaction (`atomic()`), so an image and its copies
    commit together; claiming is a job claim (concurrent workers in any process take different
    tasks; a claim whose lease ran out is free again).
    """

    def get_replication_configuration(self, account_id: str) -> str | None:
        """The stored configuration document (JSON), None when never set."""
        ...

    def put_replication_configuration(
        self, account_id: str, document: str | None, now: float
    ) -> None:
        """Store the account's configuration document; None (no rules) removes it."""
        ...

    def queue_replications(self, tasks: Sequence[NewTask], now: float) -> None:
        """Queue each copy IN_PROGRESS, due now; one already known for the same image and
        destination starts over (a push again of the image, a tag moved to it)."""
        ...

    def claim_replications(
        self, worker: str, now: float, lease_seconds: float, limit: int
    ) -> list[ReplicationTask]:
        """Up to `limit` IN_PROGRESS tasks due by `now` that nobody holds, oldest first."""
        ...

    def end_replication(
        self, task_id: int, status: ReplicationStatus, failure: str | None, now: float
    ) -> None:
        """The copy is COMPLETE or FAILED for good: the row stays as the status."""
        ...

    def retry_replication(
        self, task_id: int, next_attempt_at: float, error: str, now: float
    ) -> None:
        """One more failed attempt: counted, released, due again at `next_attempt_at`."""
        ...

    def replication_statuses(self, repo_id: int, digest: str) -> list[DestinationStatus]:
        """The image's copies by destination (region, registry id order)."""
        ...


class ReplicaTarget(Protocol):
    """A registry on another server, written through the OCI distribution API
    (backends/replica_http.py). Raises domain.replication.DestinationUnavailable when it cannot
    be reached now (retried), DestinationRefused when it says no for good."""

    def has_blob(self, repository: str, digest: str) -> bool: ...

    def put_blob(self, repository: str, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        """Upload the blob (verified by the destination against `digest`)."""
        ...

    def put_manifest(
        self, repository: str, reference: str, media_type: str, body: bytes
    ) -> None: ...


# -- storage history (the console's storage page) ----------------------------------------------


@dataclass(frozen=True)
class GcRunRecord:
    """What one garbage collection freed, kept for the console."""

    finished_at: float
    blobs_freed: int
    bytes_freed: int
    uploads_expired: int


class StorageHistory(Protocol):
    """What collections freed and each account's stored bytes after them, over time."""

    def record_collection(self, run: GcRunRecord, totals: Sequence[tuple[str, int]]) -> None:
        """Keep one collection and (account, stored bytes) after it, in one transaction; an
        account recorded before and absent from `totals` now stores 0."""
        ...

    def last_collection(self) -> GcRunRecord | None: ...

    def storage_history(self, account_id: str, limit: int) -> list[tuple[float, int]]:
        """The account's newest `limit` (recorded_at, total_bytes) samples, oldest first."""
        ...


class MetadataStore(
    RepositoryStore,
    BlobIndex,
    RepositoryBlobs,
    ImageStore,
    UploadStore,
    RepositoryAdmin,
    ImageListing,
    AccountStore,
    ScanStore,
    ConsoleSessionStore,
    RepositoryOverview,
    OutboxStore,
    LifecycleStore,
    GarbageStore,
    RegistryPolicyStore,
    CreationTemplateStore,
    StorageHistory,
    PullThroughRuleStore,
    ReplicationStore,
    Protocol,
):
    """Everything services need from the metadata database."""

    def probe(self) -> None: ...

    def close(self) -> None: ...

    def atomic(self) -> AbstractContextManager[None]:
        """Make the store calls of a block one write transaction: all of them or none.

        The calls join it from the thread or task that opened the block; a nested block joins
        the outer one. Commits when the block ends, rolls back if it raises. A call that fails
        in the database cannot be caught and carried on from inside the block (PostgreSQL
        aborts the transaction): let the error leave the block.
        """
        ...


# -- operational statistics (metrics) -------------------------------------------------------------


class OperationalStats(Protocol):
    """What /metrics samples from the metadata store now and then (dockyard/metrics.py)."""

    def pending_jobs(self, kind: str) -> int:
        """Background jobs of `kind` queued or running (not yet finished)."""
        ...

    def pool_status(self) -> tuple[int, int]:
        """Connections checked out of this process's pool, and the pool's size."""
        ...


# -- run reports (metrics of background work) ---------------------------------------------------


class RunMetrics(Protocol):
    """Where background runs report their outcome (dockyard/metrics.py implements it)."""

    def lifecycle_finished(self, outcome: str, actions: dict[str, int] | None = None) -> None:
        """One lifecycle evaluation of a repository ended (`ok` or `failed`), with the number
        of images per action word (`expire`, `transition`)."""
        ...

    def gc_finished(self, outcome: str, deleted_blobs: int = 0, deleted_bytes: int = 0) -> None:
        """One garbage collection pass ended (`ok`, `dry_run` or `failed`)."""
        ...


class NoRunMetrics:
    """Reports nowhere: the default for services built without a metrics sink (tools, tests)."""

    def lifecycle_finished(self, outcome: str, actions: dict[str, int] | None = None) -> None:
        pass

    def gc_finished(self, outcome: str, deleted_blobs: int = 0, deleted_bytes: int = 0) -> None:
        pass


# -- zero-copy reads ------------------------------------------------------------------------------


@runtime_checkable
class LocalBlobFiles(Protocol):
    """A blob store whose published blobs are plain local files, which the server may hand to
    the kernel (`sendfile`) instead of reading them into Python."""

    def local_file(self, digest: str) -> str:
        """The path of a published blob's file (which may have gone since: open it and see)."""
        ...
