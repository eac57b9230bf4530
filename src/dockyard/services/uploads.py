"""The upload state machine, shared by `/v2/` uploads and the ECR layer-upload operations.

    start ──> (append)* ──> complete ──> blob published and linked to the repository
      │                         │
      └──────── cancel <────────┘ (digest mismatch cancels too: nothing half-written stays)

The upload's acknowledged size lives in the metadata store, its bytes in the blob store, so
an upload survives a restart and may continue on another process. A running hash follows the
chunks; with each acknowledged chunk its state is saved beside the size (`sha256_state.py`), so
another process goes on from there. Only without a saved state (a platform where it cannot be
saved, a session from an older release) are the bytes hashed again at completion.
Bytes are received on the event loop in batches of a few MiB and each batch is hashed and
written by two worker threads at once, with the next batch received meanwhile. A request that
completes an upload holding no bytes yet, with a body that fits in one batch (the common case
for small blobs), brings the whole blob: it is hashed in memory and published in one step
(`publish_data`: one PutObject on S3 instead of staging, copying and cleaning up).
"""

from __future__ import annotations

import asyncio
import hashlib
import mmap
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

from dockyard.domain.digests import Digest, parse_digest
from dockyard.domain.errors import (
    BlobNotFound,
    DigestMismatch,
    EmptyUpload,
    LayerAlreadyExists,
    NameInvalid,
    RepositoryNotFound,
    UploadNotFound,
    UploadOutOfOrder,
)
from dockyard.domain.models import Repository, Upload
from dockyard.ports import BlobStore, MetadataStore, UploadWriter
from dockyard.services.account_settings import AccountSettings
from dockyard.services.clock import Clock
from dockyard.services.metadata_calls import MetadataCalls
from dockyard.services.publications import Publications
from dockyard.services.repositories import RepositoryService
from dockyard.services.sha256_state import new_sha256, resume, state_of

BATCH = 4 * 1024 * 1024
POOL_SIZE = 8
# Batch buffers shared by uploads on this event loop (touched only from the loop's thread).
_POOL: list[mmap.mmap] = []

_UPLOAD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class RunningHash:
    hasher: Any
    size: int


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


class UploadService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        repos: RepositoryService,
        clock: Clock,
        settings: AccountSettings,
        calls: MetadataCalls,
    ) -> None:
        self.meta, self.blobs, self.repos, self.clock = meta, blobs, repos, clock
        self.settings = settings
        self.publications = Publications(meta, clock)
        self._hashes: dict[str, RunningHash] = {}
        # Metadata lookups and updates (maybe on the event loop); disk writes, fsyncs and
        # hashing always go to worker threads (`_in_thread`).
        self._metadata = calls.run

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, account_id: str, name: str) -> Upload:
        upload = self._start_unrecorded(account_id, name)
        self.meta.create_upload(upload)
        return upload

    def _start_unrecorded(self, account_id: str, name: str) -> Upload:
        repo = self.repos.for_push(account_id, name)
        upload = Upload(str(uuid.uuid4()), repo.id, 0, self.clock.now())
        self.blobs.start_upload(upload.id)
        self._hashes[upload.id] = RunningHash(new_sha256(), 0)
        return upload

    def status(self, account_id: str, name: str, upload_id: str) -> Upload:
        repo = self.repos.get(account_id, name)
        return self._upload(repo, upload_id)

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
        upload = await self._metadata(self.status, account_id, name, upload_id)
        if start is not None and start != upload.size:
            raise UploadOutOfOrder(
                f"chunk starts at {start} but the upload holds {upload.size} bytes", size=upload.size
            )
        size = await self._receive(upload, body)
        if size != upload.size:
            await self._metadata(self.meta.set_upload_size, upload.id, size,
                                 self._saved_state(upload.id, size))
        return Upload(upload.id, upload.repo_id, size, upload.created_at)

    async def complete(
        self,
        account_id: str,
        name: str,
        upload_id: str,
        digest_text: str,
        body: AsyncIterator[bytes] | None = None,
    ) -> Digest:
        digest = parse_digest(digest_text)
        upload = await self._metadata(self.status, account_id, name, upload_id)
        if body is None:
            return await _in_thread(self._publish, upload, digest)
        return await self._receive_and_publish(upload, body, digest)

    async def push_monolithic(
        self, account_id: str, name: str, digest_text: str, body: AsyncIterator[bytes]
    ) -> Digest:
        digest = parse_digest(digest_text)
        created = await self._metadata(self.repos.find_for_push, account_id, name) is None
        # A one-request upload has nothing to resume, so it gets no session row: two fewer
        # database commits per blob. Its staging bytes are still verified before publishing.
        upload = await self._metadata(self._start_unrecorded, account_id, name)
        try:
            return await self._receive_and_publish(upload, body, digest)
        except BaseException:
            await _in_thread(self._discard, upload)
            if created:
                repo = await self._metadata(self.repos.get, account_id, name)
                await self._metadata(self.repos.discard_if_empty, repo)
            raise

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
            upload = await self._metadata(self.status, account_id, name, upload_id)
            raise UploadOutOfOrder(
                f"The part spans bytes {first}-{last} but carries {len(data)} bytes",
                size=upload.size,
            )
        return await self.append(account_id, name, upload_id, _once(data), first)

    async def complete_layer(
        self, account_id: str, name: str, upload_id: str, digest_text: str
    ) -> Digest:
        """CompleteLayerUpload: refuses empty uploads and layers the repository already has."""
        digest = parse_digest(digest_text)
        upload = await self._metadata(self.status, account_id, name, upload_id)
        if upload.size == 0:
            raise EmptyUpload(f"The upload with id '{upload_id}' does not contain any data")
        if await self._metadata(self.meta.linked_blob_size, upload.repo_id, str(digest)) is not None:
            await _in_thread(self._discard, upload)
            raise LayerAlreadyExists(f"The layer with digest {digest} already exists in the "
                                     f"repository with name '{name}'")
        return await _in_thread(self._publish, upload, digest)

    # -- internals ----------------------------------------------------------------------------

    def _upload(self, repo: Repository, upload_id: str) -> Upload:
        # Ids are our uuid4s (ECR's UploadId pattern); others are not looked up at all.
        upload = self.meta.get_upload(upload_id) if _UPLOAD_ID.fullmatch(upload_id) else None
        if upload is None or upload.repo_id != repo.id:
            raise UploadNotFound("blob upload unknown to registry", upload_id=upload_id)
        return upload

    def _discard(self, upload: Upload) -> None:
        self._hashes.pop(upload.id, None)
        self.blobs.abort_upload(upload.id)
        self.meta.delete_upload(upload.id)

    def _running_hash(self, upload: Upload) -> RunningHash | None:
        running = self._hashes.get(upload.id)
        if running is not None and running.size == upload.size:
            return running
        # The chunks so far went through another process (or before a restart): go on from the
        # state saved with the size, if there is one; otherwise hash the bytes again at the end.
        resumed = new_sha256() if upload.size == 0 else resume(upload.hash_state, upload.size)
        if resumed is None:
            self._hashes.pop(upload.id, None)
            return None
        running = self._hashes[upload.id] = RunningHash(resumed, upload.size)
        return running

    def _saved_state(self, upload_id: str, size: int) -> bytes | None:
        running = self._hashes.get(upload_id)
        return state_of(running.hasher) if running is not None and running.size == size else None

    async def _receive(self, upload: Upload, body: AsyncIterator[bytes]) -> int:
        batches = BatchReader(body, BATCH)
        try:
            return await self._stage(upload, await batches.next_batch(), batches)
        finally:
            batches.release()

    async def _receive_and_publish(
        self, upload: Upload, body: AsyncIterator[bytes], digest: Digest
    ) -> Digest:
        """Publish the upload completed by `body`: in one step when the body is the whole blob."""
        batches = BatchReader(body, BATCH)
        try:
            first = await batches.next_batch()
            # A batch left short means the body ended in it.
            if upload.size == 0 and first is not None and len(first) < BATCH:
                return await _in_thread(self._publish_data, upload, digest, first)
            # The size is not recorded: the upload ends here, or (if publishing fails) the
            # next writer drops these bytes, as after a chunk that was never acknowledged.
            size = await self._stage(upload, first, batches)
        finally:
            batches.release()
        return await _in_thread(self._publish, replace(upload, size=size), digest)

    async def _stage(self, upload: Upload, first: memoryview | None, rest: BatchReader) -> int:
        """Write `first` and the rest of the body after the upload's bytes; the new size."""
        if first is None:
            return upload.size
        running = self._running_hash(upload)
        writer = await _in_thread(self.blobs.open_upload, upload.id, upload.size)
        try:
            await _pipeline(first, rest, writer, running)
            size = await _in_thread(writer.close)
        except BaseException:
            self._hashes.pop(upload.id, None)
            await _in_thread(writer.abort)
            raise
        if running is not None:
            running.size = size
        return size

    def _publish(self, upload: Upload, digest: Digest) -> Digest:
        self._verify(upload, digest, self._final_hash(upload, digest.algorithm))
        return self._publish_pinned(upload, digest, upload.size, lambda: self.blobs.publish_upload(
            upload.id, str(digest), upload.size))

    def _publish_data(self, upload: Upload, digest: Digest, data: memoryview) -> Digest:
        self._verify(upload, digest, hashlib.new(digest.algorithm, data).hexdigest())
        return self._publish_pinned(upload, digest, len(data), lambda: self.blobs.publish_data(
            upload.id, str(digest), data))

    def _publish_pinned(
        self, upload: Upload, digest: Digest, size: int, publish: Callable[[], None]
    ) -> Digest:
        """Publish with the blob pinned against garbage collection (services/publications.py)."""
        token = self.publications.pin(str(digest), size)
        try:
            publish()
        except BaseException:
            self.publications.abandon(token, str(digest))
            raise
        with self.meta.atomic():
            self.publications.release(token, str(digest))
            return self._finish(upload, digest, size)

    def _verify(self, upload: Upload, digest: Digest, actual: str) -> None:
        if actual != digest.encoded:
            self._discard(upload)
            raise DigestMismatch(f"provided digest {digest} does not match uploaded content")

    def _finish(self, upload: Upload, digest: Digest, size: int) -> Digest:
        self.meta.finish_upload(upload.id, upload.repo_id, str(digest), size, self.clock.now())
        self._hashes.pop(upload.id, None)
        return digest

    def _final_hash(self, upload: Upload, algorithm: str) -> str:
        running = self._running_hash(upload)
        if running is not None and algorithm == "sha256":
            return running.hasher.hexdigest()
        hasher = hashlib.new(algorithm)
        try:
            for chunk in self.blobs.read_upload(upload.id, upload.size):
                hasher.update(chunk)
        except FileNotFoundError:
            raise BlobNotFound("upload data is missing; start the upload again") from None
        return hasher.hexdigest()


class BatchReader:
    """Gathers a request body into batches in two reused buffers.

    While one buffer is being hashed and written by worker threads the other fills; reusing
    them (instead of joining fresh bytes) spares the allocator hundreds of thousands of page
    faults per GiB. They are anonymous mappings, so page-aligned: a blob store may hand them
    to the disk with direct I/O, without copying them first.
    """

    def __init__(self, body: AsyncIterator[bytes], size: int) -> None:
        self._body, self._size = body, size
        self._buffers: list[mmap.mmap] = []
        self._turn = 0
        self._leftover = memoryview(b"")

    def release(self) -> None:
        """Give the buffers back for the next upload (call once no thread uses them)."""
        while self._buffers:
            buffer = self._buffers.pop()
            if len(_POOL) < POOL_SIZE:
                _POOL.append(buffer)

    def _buffer(self) -> mmap.mmap:
        if len(self._buffers) < 2:
            self._buffers.append(_POOL.pop() if _POOL else mmap.mmap(-1, self._size))
        buffer = self._buffers[self._turn % len(self._buffers)]
        self._turn += 1
        return buffer

    async def next_batch(self) -> memoryview | None:
        if not self._leftover:
            # An empty body (a PUT that only completes an upload) takes no buffer at all.
            first = await anext(self._body, b"")
            if not first:
                return None
            self._leftover = memoryview(first)
        buffer = self._buffer()
        filled = 0
        while filled < len(buffer):
            chunk = self._leftover or memoryview(await anext(self._body, b""))
            if not chunk:
                break
            take = min(len(chunk), len(buffer) - filled)
            buffer[filled : filled + take] = chunk[:take]
            self._leftover, filled = chunk[take:], filled + take
        return memoryview(buffer)[:filled] if filled else None


async def _pipeline(
    first: memoryview, rest: BatchReader, writer: UploadWriter, running: RunningHash | None
) -> None:
    """Hash and write each batch in worker threads while the next batch is received."""
    pending: asyncio.Future[Any] | None = None
    batch: memoryview | None = first
    try:
        while batch is not None:
            if pending is not None:
                await pending
            pending = _process(batch, writer, running)
            batch = await rest.next_batch()
    finally:
        if pending is not None:
            await pending


def _process(
    batch: memoryview, writer: UploadWriter, running: RunningHash | None
) -> asyncio.Future[Any]:
    jobs = [asyncio.to_thread(writer.write, batch)]
    if running is not None:
        jobs.append(asyncio.to_thread(running.hasher.update, batch))
    return asyncio.gather(*jobs)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
