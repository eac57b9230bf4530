"""The upload state machine, shared by `/v2/` uploads and the ECR layer-upload operations.

    start ──> (append)* ──> complete ──> blob published and linked to the repository
      │                         │
      └──────── cancel <────────┘ (digest mismatch cancels too: nothing half-written stays)

One writer per upload, across processes. A session row (metadata store) holds the size, the
SHA-256 state after it, the chain of acknowledged segments and a generation. A chunk is
written to a new segment of its own (`BlobStore.open_upload`: nobody else writes it), made
durable, then acknowledged by a compare-and-set that moves the generation on
(`advance_upload`). Of two requests racing on one upload, the second to get there finds the
generation moved: its segment is never acknowledged and it answers 416 with the current
range (`UploadOutOfOrder`). Completion hashes the acknowledged chain (plus the segment its own
body went to), publishes exactly those bytes, which nothing can change any more (a blob is
never replaced: see the blob stores), then ends the session by compare-and-set
(`finish_upload`): a request that loses answers that the upload is unknown (or invalid, when
a chunk moved it meanwhile), or that the repository is, if its deletion took the session.

The running hash of the chunks this process received is kept in a bounded cache keyed by
(upload id, generation) (`hash_cache.py`); otherwise it is resumed from the saved state, and
only without one are the bytes hashed again at completion. A request that completes an upload
holding no bytes yet, with a body that fits in one batch (the common case for small blobs),
brings the whole blob: it is hashed in memory and published in one step (`publish_data`: one
PutObject on S3 instead of staging, copying and cleaning up).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from dockyard.domain.digests import Digest, parse_digest
from dockyard.domain.errors import (
    BlobNotFound,
    DigestMismatch,
    EmptyUpload,
    LayerAlreadyExists,
    NameInvalid,
    RepositoryNotFound,
    UploadInvalid,
    UploadNotFound,
    UploadOutOfOrder,
)
from dockyard.domain.models import Repository, Upload
from dockyard.ingest.batches import BATCH, BatchReader, once, pipeline
from dockyard.ingest.sha256_state import Sha256, new_sha256, resume, state_of
from dockyard.ports import BlobStore, MetadataStore
from dockyard.services.account_settings import AccountSettings
from dockyard.services.clock import Clock
from dockyard.services.hash_cache import HashCache
from dockyard.services.placement import Placement, bounded
from dockyard.services.publications import Publications
from dockyard.services.repositories import RepositoryService

_UPLOAD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Staged:
    """What a request wrote: the upload's chain with its own segment, not yet acknowledged."""

    where: tuple[str, str]  # (account id, repository name) of the request
    upload: Upload
    segments: tuple[str, ...]
    size: int
    hasher: Sha256 | None  # hashed exactly those `size` bytes, when at hand
    recorded: bool = True  # False for a one-request upload, which has no session row


class UploadService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        repos: RepositoryService,
        clock: Clock,
        settings: AccountSettings,
        placement: Placement,
    ) -> None:
        self.meta, self.blobs, self.repos, self.clock = meta, blobs, repos, clock
        self.settings = settings
        self.publications = Publications(meta, clock)
        self._hashes = HashCache()
        # Where each blocking step runs: the @bounded ones (metadata lookups and updates) may
        # run on the event loop; disk writes, fsyncs and hashing go to worker threads.
        self._run = placement.run

    # -- lifecycle ----------------------------------------------------------------------------

    @bounded
    def start(self, account_id: str, name: str) -> Upload:
        upload = self._start_unrecorded(account_id, name)
        self.meta.create_upload(upload)
        return upload

    @bounded
    def _start_unrecorded(self, account_id: str, name: str) -> Upload:
        repo = self.repos.for_push(account_id, name)
        upload = Upload(str(uuid.uuid4()), repo.id, 0, self.clock.now())
        self.blobs.start_upload(upload.id)
        return upload

    @bounded
    def status(self, account_id: str, name: str, upload_id: str) -> Upload:
        repo = self.repos.get(account_id, name)
        try:
            return self._upload(repo, upload_id)
        except UploadNotFound:
            # The repository's deletion may have taken the session since it was looked up.
            self.repos.get(account_id, name)
            raise

    def cancel(self, account_id: str, name: str, upload_id: str) -> None:
        upload = self.status(account_id, name, upload_id)
        self._discard(upload)

    async def append(
        self,
        account_id: str,
        name: str,
        upload_id: str,
        body: AsyncIterator[bytes],
        start: int | None = None,
    ) -> Upload:
        """Add a chunk; `start`, when the client says where it begins, must be the current end."""
        upload = await self._run(self.status, account_id, name, upload_id)
        if start is not None and start != upload.size:
            raise UploadOutOfOrder(
                f"chunk starts at {start} but the upload holds {upload.size} bytes",
                size=upload.size,
            )
        staged = await self._receive((account_id, name), upload, body)
        if staged.segments == upload.segments:
            return upload  # an empty chunk changes nothing
        state = None if staged.hasher is None else state_of(staged.hasher)
        moved = await self._run(self._advance, upload, staged, state)
        if moved is None:
            raise await self._run(self._lost_chunk, staged)
        if staged.hasher is not None:
            self._hashes.put(moved.id, moved.generation, staged.hasher)
        self._hashes.forget(upload.id, upload.generation)
        return moved

    async def complete(
        self,
        account_id: str,
        name: str,
        upload_id: str,
        digest_text: str,
        body: AsyncIterator[bytes] | None = None,
    ) -> Digest:
        digest = parse_digest(digest_text)
        upload = await self._run(self.status, account_id, name, upload_id)
        where = (account_id, name)
        if body is None:
            return await self._publish(self._as_staged(where, upload), digest)
        return await self._receive_and_publish(where, upload, body, digest)

    async def push_monolithic(
        self, account_id: str, name: str, digest_text: str, body: AsyncIterator[bytes]
    ) -> Digest:
        digest = parse_digest(digest_text)
        created = await self._run(self.repos.find_for_push, account_id, name) is None
        # A one-request upload has nothing to resume, so it gets no session row: two fewer
        # database commits per blob. Its staging bytes are still verified before publishing.
        upload = await self._run(self._start_unrecorded, account_id, name)
        try:
            return await self._receive_and_publish(
                (account_id, name), upload, body, digest, recorded=False
            )
        except BaseException:
            await self._run(self.blobs.abort_upload, upload.id)
            if created:
                await self._run(self._discard_created_repository, account_id, name)
            raise

    @bounded
    def mount(self, account_id: str, name: str, digest_text: str, source: str) -> bool:
        """Link a blob from another repository of the account; False when it is not there."""
        digest = str(parse_digest(digest_text))
        if not self.settings.blob_mounting(account_id):
            return False  # the account turned BLOB_MOUNTING off: clients upload instead
        try:
            source_repo = self.repos.get(account_id, source)
        except (NameInvalid, RepositoryNotFound):  # an unknown source just means "no mount"
            return False
        size = self.meta.linked_blob_size(source_repo.id, digest)
        if size is None or self.blobs.stat(digest) is None:
            return False
        target = self.repos.for_push(account_id, name)
        # Not a plain link: garbage collection may be deleting the blob (services/gc.py).
        return self.meta.adopt_blob(source_repo.id, target.id, digest, self.clock.now())

    # -- ECR layer operations -----------------------------------------------------------------

    async def upload_part(
        self, account_id: str, name: str, upload_id: str, first: int, last: int, data: bytes
    ) -> Upload:
        """UploadLayerPart: the part must start where the upload ends and span `data` exactly."""
        if last - first + 1 != len(data) or not data:
            upload = await self._run(self.status, account_id, name, upload_id)
            raise UploadOutOfOrder(
                f"The part spans bytes {first}-{last} but carries {len(data)} bytes",
                size=upload.size,
            )
        return await self.append(account_id, name, upload_id, once(data), first)

    async def complete_layer(
        self, account_id: str, name: str, upload_id: str, digest_text: str
    ) -> Digest:
        """CompleteLayerUpload: refuses empty uploads and layers the repository already has."""
        digest, where = parse_digest(digest_text), (account_id, name)
        upload = await self._run(self.status, account_id, name, upload_id)
        if upload.size == 0:
            raise EmptyUpload(f"The upload with id '{upload_id}' does not contain any data")
        if await self._run(self._linked_size, upload.repo_id, digest) is not None:
            if await self._run(self._moved, upload):
                # Linked by a completion of this very upload that just won the race.
                raise await self._run(self._lost_completion, self._as_staged(where, upload))
            await self._run(self._discard, upload)
            raise LayerAlreadyExists(
                f"The layer with digest {digest} already exists in the "
                f"repository with name '{name}'"
            )
        return await self._publish(self._as_staged(where, upload), digest)

    # -- sessions -----------------------------------------------------------------------------

    def _upload(self, repo: Repository, upload_id: str) -> Upload:
        # Ids are our uuid4s (ECR's UploadId pattern); others are not looked up at all.
        upload = self.meta.get_upload(upload_id) if _UPLOAD_ID.fullmatch(upload_id) else None
        # A session from before segments were recorded (revision 0005) cannot be continued.
        legacy = upload is not None and upload.size > 0 and not upload.segments
        if upload is None or upload.repo_id != repo.id or legacy:
            raise UploadNotFound("blob upload unknown to registry", upload_id=upload_id)
        return upload

    def _discard(self, upload: Upload) -> None:
        self.meta.delete_upload(upload.id)
        self.blobs.abort_upload(upload.id)

    @bounded
    def _discard_created_repository(self, account_id: str, name: str) -> None:
        try:
            repo = self.repos.get(account_id, name)
        except RepositoryNotFound:
            return  # deleted meanwhile: nothing to discard
        self.repos.discard_if_empty(repo)

    @bounded
    def _advance(self, upload: Upload, staged: Staged, state: bytes | None) -> Upload | None:
        return self.meta.advance_upload(upload, staged.size, staged.segments[-1], state)

    @bounded
    def _linked_size(self, repo_id: int, digest: Digest) -> int | None:
        return self.meta.linked_blob_size(repo_id, str(digest))

    @bounded
    def _moved(self, upload: Upload) -> bool:
        """Whether the session moved on or ended since `upload` was read."""
        return self.meta.get_upload(upload.id) != upload

    @bounded
    def _lost_chunk(self, staged: Staged) -> Exception:
        """Why a chunk was not acknowledged: another request moved the upload, or ended it."""
        current = self.meta.get_upload(staged.upload.id)
        if current is not None:
            return UploadOutOfOrder(
                "another request wrote to the upload at the same time; continue from the "
                f"{current.size} bytes it holds", size=current.size,
            )  # fmt: skip
        return self._ended(staged)

    @bounded
    def _lost_completion(self, staged: Staged) -> Exception:
        current = self.meta.get_upload(staged.upload.id)
        if current is not None:
            return UploadInvalid(
                "a chunk reached the upload while it was being completed; complete it again",
                upload_id=staged.upload.id,
            )
        return self._ended(staged)

    def _ended(self, staged: Staged) -> Exception:
        """The session is gone (completed, cancelled, or its repository deleted): its
        staging goes too, since nobody can continue it."""
        upload = staged.upload
        self.blobs.abort_upload(upload.id)
        try:
            self.repos.get(*staged.where)
        except RepositoryNotFound as exc:
            return exc
        return UploadNotFound(
            "blob upload unknown to registry (completed or cancelled by another request)",
            upload_id=upload.id,
        )

    # -- bytes --------------------------------------------------------------------------------

    def _as_staged(self, where: tuple[str, str], upload: Upload, recorded: bool = True) -> Staged:
        return Staged(
            where, upload, upload.segments, upload.size, self._hasher_at(upload), recorded
        )

    def _hasher_at(self, upload: Upload) -> Sha256 | None:
        """A hasher that has hashed exactly the upload's acknowledged bytes, when one is at hand."""
        if upload.size == 0:
            return new_sha256()
        cached = self._hashes.take_copy(upload.id, upload.generation)
        return cached if cached is not None else resume(upload.hash_state, upload.size)

    async def _receive(
        self, where: tuple[str, str], upload: Upload, body: AsyncIterator[bytes]
    ) -> Staged:
        batches = BatchReader(body, BATCH)
        try:
            return await self._stage(
                self._as_staged(where, upload), await batches.next_batch(), batches
            )
        finally:
            batches.release()

    async def _receive_and_publish(
        self,
        where: tuple[str, str],
        upload: Upload,
        body: AsyncIterator[bytes],
        digest: Digest,
        recorded: bool = True,
    ) -> Digest:
        """Publish the upload completed by `body`: in one step when the body is the whole blob."""
        batches = BatchReader(body, BATCH)
        try:
            first = await batches.next_batch()
            # A batch left short means the body ended in it.
            if upload.size == 0 and first is not None and len(first) < BATCH:
                staged = Staged(where, upload, (), len(first), None, recorded)
                return await self._run(self._publish_data, staged, digest, first)
            staged = await self._stage(self._as_staged(where, upload, recorded), first, batches)
        finally:
            batches.release()
        return await self._publish(staged, digest)

    async def _stage(self, before: Staged, first: memoryview | None, rest: BatchReader) -> Staged:
        """Write `first` and the rest of the body to a new segment after the upload's bytes."""
        if first is None:
            return before
        upload, hasher = before.upload, before.hasher
        try:
            writer = await self._run(self.blobs.open_upload, upload.id, upload.size)
        except FileNotFoundError:  # the upload's staging is gone: it ended meanwhile
            raise await self._run(self._lost_chunk, before) from None
        try:
            await pipeline(first, rest, writer, hasher)
            size = await self._run(writer.close)
        except BaseException:
            await self._run(writer.abort)
            raise
        segments = (*upload.segments, writer.segment)
        return Staged(before.where, upload, segments, size, hasher, before.recorded)

    async def _publish(self, staged: Staged, digest: Digest) -> Digest:
        return await self._run(self._publish_staged, staged, digest)

    def _publish_staged(self, staged: Staged, digest: Digest) -> Digest:
        upload = staged.upload
        self._verify(staged, digest, self._final_hash(staged, digest.algorithm))
        if staged.recorded and self.meta.get_upload(upload.id) != upload:
            # Moved or ended (its repository deleted, say) while this request hashed: publish
            # nothing that no session would link.
            raise self._lost_completion(staged)
        return self._publish_pinned(staged, digest, lambda: self._publish_segments(staged, digest))

    def _publish_segments(self, staged: Staged, digest: Digest) -> None:
        upload = staged.upload
        try:
            self.blobs.publish_upload(upload.id, staged.segments, str(digest), staged.size)
        except OSError:
            if staged.recorded and self.meta.get_upload(upload.id) != upload:
                raise self._lost_completion(staged) from None  # it ended or moved meanwhile
            raise

    def _publish_pinned(
        self, staged: Staged, digest: Digest, publish: Callable[[], object]
    ) -> Digest:
        """Publish with the blob pinned against garbage collection (services/publications.py);
        the pin is released in the transaction that ends the session."""
        token = self.publications.pin(str(digest), staged.size)
        try:
            publish()
            with self.meta.atomic():
                self.publications.release(token, str(digest))
                self._finish(staged, digest)
        except BaseException:
            self.publications.abandon(token, str(digest))
            raise
        # Only once the session's end is committed: a racing completion that finds its
        # staging gone must also find the session gone, or it cannot tell why.
        if staged.segments:  # publish_data drops what it staged itself
            self.blobs.abort_upload(staged.upload.id)
        return digest

    def _publish_data(self, staged: Staged, digest: Digest, data: memoryview) -> Digest:
        self._verify(staged, digest, hashlib.new(digest.algorithm, data).hexdigest())
        return self._publish_pinned(
            staged, digest, lambda: self.blobs.publish_data(staged.upload.id, str(digest), data)
        )

    def _verify(self, staged: Staged, digest: Digest, actual: str) -> None:
        if actual != digest.encoded:
            if staged.recorded:
                self._discard(staged.upload)
            raise DigestMismatch(f"provided digest {digest} does not match uploaded content")

    def _finish(self, staged: Staged, digest: Digest) -> None:
        """End the session (compare-and-set) and link the published blob."""
        upload = staged.upload
        generation = upload.generation if staged.recorded else None
        finished = self.meta.finish_upload(
            upload.id, upload.repo_id, str(digest), staged.size, self.clock.now(), generation
        )
        if not finished:
            raise self._lost_completion(staged)
        self._hashes.forget(upload.id, upload.generation)

    def _final_hash(self, staged: Staged, algorithm: str) -> str:
        if staged.hasher is not None and algorithm == "sha256":
            return staged.hasher.hexdigest()
        hasher = hashlib.new(algorithm)
        upload = staged.upload
        try:
            for chunk in self.blobs.read_upload(upload.id, staged.segments, staged.size):
                hasher.update(chunk)
        except (FileNotFoundError, LookupError, OSError):
            if staged.recorded and self.meta.get_upload(upload.id) != upload:
                raise self._lost_completion(staged) from None
            raise BlobNotFound("upload data is missing; start the upload again") from None
        return hasher.hexdigest()
