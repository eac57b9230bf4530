"""One write session of an upload: its bytes become one segment object, durable at close.

    write ─> buffer (PART_SIZE) ─full─> UploadPart, in a thread (MAX_IN_FLIGHT at once)
    close ─> session < PART_SIZE: one PutObject of the buffer
             otherwise: last (short) part, CompleteMultipartUpload
             (an empty session too: the upload's chain names every acknowledged segment)
    abort ─> AbortMultipartUpload; nothing was ever visible

The segment key appears only when close succeeds (both PutObject and CompleteMultipartUpload
are atomic), so a writer that dies half-way leaves no segment, only an incomplete multipart
upload that the store aborts when the upload is published or aborted. Memory per writer is the
fill buffer plus the parts in flight: (1 + MAX_IN_FLIGHT) * PART_SIZE.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from dockyard.backends.blobs.s3.compose import checksum_args, part_entry

log = logging.getLogger("dockyard.s3")

MiB = 1024 * 1024
PART_SIZE = 8 * MiB  # >= S3's 5 MiB minimum; 10,000 parts make segments of up to 78 GiB
MAX_IN_FLIGHT = 2  # parts uploading while the next fills: overlaps the network with receiving
MAX_PARTS = 10_000


class S3UploadWriter:
    """Appends to an upload from `offset` by writing the segment object `key`."""

    def __init__(self, client: Any, bucket: str, key: str, offset: int, segment: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self.segment = segment  # the key is this writer's alone (see s3/paths.py)
        self._size = offset
        # Grows as bytes arrive (a 100-byte chunk costs 100 bytes, not 8 MiB); a reused buffer
        # is already PART_SIZE long and is overwritten in place.
        self._buffer = bytearray()
        self._filled = 0
        self._parts: _PartUploader | None = None

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        size = len(view)
        while view:
            take = min(len(view), PART_SIZE - self._filled)
            self._buffer[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == PART_SIZE:
                self._send_full_buffer()
        self._size += size

    def close(self) -> int:
        """Store the session's bytes as the segment; returns the upload's size."""
        if self._parts is not None:
            try:
                self._parts.submit(self._take_buffer())
                self._parts.complete()
            except BaseException:
                self._parts.abort()
                raise
        else:
            # Even an empty session stores its (empty) segment: the chain names it.
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=self._take_buffer())
        return self._size

    def abort(self) -> None:
        if self._parts is not None:
            self._parts.abort()
        self._filled = 0

    def _send_full_buffer(self) -> None:
        if self._parts is None:
            self._parts = _PartUploader(self._client, self._bucket, self._key)
        # The buffer now belongs to the uploading thread; fill another meanwhile, reusing one
        # whose part is done (fresh 8 MiB buffers per part fragment the allocator's arenas).
        full, self._filled = self._buffer, 0
        self._parts.submit(full)
        self._buffer = self._parts.spare() or bytearray()

    def _take_buffer(self) -> bytes | bytearray:
        buffer, filled = self._buffer, self._filled
        self._filled = 0
        return buffer if filled == len(buffer) else bytes(memoryview(buffer)[:filled])


class _PartUploader:
    """A multipart upload fed whole parts, uploading up to MAX_IN_FLIGHT of them at once."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._checksums = checksum_args(client)
        created = client.create_multipart_upload(Bucket=bucket, Key=key, **self._checksums)
        self._upload_id = created["UploadId"]
        self._pool = ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="s3-part")
        self._in_flight: deque[Future[bytes | bytearray]] = deque()
        self._entries: list[dict[str, Any]] = []
        self._spares: list[bytearray] = []

    def spare(self) -> bytearray | None:
        """A buffer whose part has been uploaded, if any, to fill again."""
        return self._spares.pop() if self._spares else None

    def submit(self, body: bytes | bytearray) -> None:
        if not body:
            return  # a session that ended on a part boundary has no short last part
        if len(self._entries) >= MAX_PARTS:
            raise OSError(f"an upload session may hold at most {MAX_PARTS * PART_SIZE} bytes")
        while len(self._in_flight) >= MAX_IN_FLIGHT:
            self._wait_oldest()  # bounded memory: no more than MAX_IN_FLIGHT parts at once
        self._entries.append({})  # reserve the part's slot; its thread fills it in
        number = len(self._entries)
        self._in_flight.append(self._pool.submit(self._upload, number, body))

    def complete(self) -> None:
        self._drain()
        self._client.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
            MultipartUpload={"Parts": self._entries},
        )  # fmt: skip
        self._pool.shutdown()

    def abort(self) -> None:
        # Let running part uploads finish first: S3 may keep a part that lands after the abort.
        self._pool.shutdown(cancel_futures=True)
        try:
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
            )
        except Exception:  # the caller is already failing; the store aborts leftovers later
            log.warning("could not abort multipart upload of %s", self._key, exc_info=True)

    def _drain(self) -> None:
        while self._in_flight:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        body = self._in_flight.popleft().result()
        if isinstance(body, bytearray) and len(body) == PART_SIZE:
            self._spares.append(body)

    def _upload(self, number: int, body: bytes | bytearray) -> bytes | bytearray:
        response = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
            PartNumber=number, Body=body, **self._checksums,
        )  # fmt: skip
        self._entries[number - 1] = part_entry(number, response)
        return body
