"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW), shared by any number of servers.

Configured by `--storage-url s3://bucket/prefix?...` (options in s3/config.py). Key space (see
s3/paths.py):

    <prefix>blobs/sha256/ab/abcd...                 published blobs, immutable
    <prefix>uploads/<id>/segments/00000000000000000000   bytes written by write session 1
    <prefix>uploads/<id>/segments/00000000000004194304   ... session 2, starting at 4 MiB

Upload protocol. Chunks of any size may reach any server process, so everything needed to go
on is in the bucket and the metadata store, nothing only in a process (requests to S3 in
brackets):

    start_upload(id)        nothing: the metadata store records the upload [0]
    publish_data(id, d, b)  the whole blob arrived with the request that completes an upload
                            holding no bytes yet, and the service verified it: one conditional
                            PutObject (If-None-Match: *) straight to blobs/<d>, atomic, a no-op
                            where the blob exists [1]. The common case for small blobs.
    open_upload(id, off)    a writer of a new segment key segments/<off>-<token>, which no other
                            writer uses: racing requests write different keys, and the metadata
                            store acknowledges one of them [0]
    writer.write(bytes)     buffers 8 MiB parts; the first full part starts a multipart upload
                            of the segment, parts upload in threads (two in flight)
    writer.close()          PutObject (sessions under 8 MiB) or CompleteMultipartUpload: the
                            segment appears atomically and durably, then the size is returned
    writer.abort() / crash  AbortMultipartUpload, or an incomplete one left for the cleanup
                            below; no segment appears
    read_upload(id, ch, n)  list, then ranged GETs over the first n bytes of the chain `ch`
    publish_upload(...)     (the service verified the digest first) if blobs/<digest> exists
                            (HEAD), nothing; else compose the chain's first `size` bytes into
                            blobs/<digest>, conditionally (If-None-Match: *, where the store
                            has conditional writes): one whole segment is one CopyObject (up to
                            512 MiB); otherwise a multipart upload whose parts are server-side
                            copies of segment ranges >= 5 MiB (small segments are gathered into
                            8 MiB uploaded parts), completed straight to the final key, where
                            the blob appears all at once [HEAD, list, copy: 3]
    abort_upload(id)        drop every key and incomplete multipart upload under the upload's
                            prefix, once the session is settled [list, delete, list multipart
                            uploads: 3]

Acknowledged segments are never written again, so the bytes the service hashed are the bytes
composed. Without conditional writes a racing publisher may overwrite a blob, but only with
bytes verified against the same digest (the same bytes), and writes are atomic.

publish_data does not list the upload: bytes of a write that was never acknowledged (a chunk
that reached S3 while its process died before recording the size) stay under uploads/<id>/
after a one-request completion, as does the staging of a one-request upload whose process died
(it has no session row). Garbage collection removes both once they are idle for the upload TTL
(`idle_uploads`, s3/inventory.py); listing every upload at completion would double the requests
of a small blob.

Memory is bounded per upload (the writer's 8 MiB buffer plus two parts in flight, or one 8 MiB
gather buffer while composing, or the service's batch for publish_data); reads stream 1 MiB
chunks from ranged GETs.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from dockyard.backends.blobs.s3 import config as s3_config
from dockyard.backends.blobs.s3 import inventory as s3_inventory
from dockyard.backends.blobs.s3.compose import READ_CHUNK, Composer, Piece
from dockyard.backends.blobs.s3.config import S3Options
from dockyard.backends.blobs.s3.paths import KeySpace
from dockyard.backends.blobs.s3.segments import UploadListing, list_upload
from dockyard.backends.blobs.s3.writer import S3UploadWriter
from dockyard.backends.blobs.segment_names import segment_name
from dockyard.backends.configuration import ConfigurationError
from dockyard.ports import StoredBlob

DELETE_BATCH = 1000  # S3's limit per DeleteObjects request
CONFLICT_ATTEMPTS = 3  # conditional puts answered 409 (a concurrent write of the same key)


class S3BlobStore:
    def __init__(self, options: S3Options) -> None:
        self.options = options
        self.bucket = options.bucket
        self.keys = KeySpace.under(options.prefix)
        self._session = options.session()
        self.client = options.client(self._session)
        self._composer = Composer(self.client, self.bucket)

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        options = S3Options.from_url(url)
        try:
            return cls(options)
        except BotoCoreError as exc:  # e.g. an unknown ?profile=
            raise ConfigurationError(f"cannot configure {options.where}: {exc}") from None

    def probe(self) -> None:
        s3_config.probe(self.options, self._session)

    # -- published blobs ------------------------------------------------------------------------

    def stat(self, digest: str) -> int | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.keys.blob(digest))
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise
        return head["ContentLength"]

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        if length == 0:
            return iter(())
        request = {"Bucket": self.bucket, "Key": self.keys.blob(digest)}
        if offset or length is not None:
            end = "" if length is None else offset + length - 1
            request["Range"] = f"bytes={offset}-{end}"
        try:
            body = self.client.get_object(**request)["Body"]
        except ClientError as exc:
            if _status(exc) == 416:  # a range starting at (or past) the end: nothing to read
                return iter(())
            if _status(exc) == 404:
                raise FileNotFoundError(f"blob {digest} is not in {self.options.where}") from None
            raise
        return _stream(body)

    def redirect_url(self, digest: str) -> str | None:
        if not self.options.redirect:
            return None
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.keys.blob(digest)},
            ExpiresIn=self.options.redirect_expiry,
        )

    def delete(self, digest: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.keys.blob(digest))

    def list(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.keys.blobs):
            for item in page.get("Contents", ()):
                digest = self.keys.digest_of(item["Key"])
                if digest is not None:
                    yield digest

    def stored_blobs(self) -> Iterator[StoredBlob]:
        return s3_inventory.stored_blobs(self.client, self.bucket, self.keys)

    # -- uploads --------------------------------------------------------------------------------

    def idle_uploads(self, idle_since: float) -> Iterator[str]:
        return s3_inventory.idle_uploads(self.client, self.bucket, self.keys, idle_since)

    def start_upload(self, upload_id: str) -> None:
        # Nothing to store: a marker would cost a PUT here and a DELETE at the end of every
        # upload. Still refuse an id that could name other keys.
        self.keys.upload(upload_id)

    def open_upload(self, upload_id: str, offset: int) -> S3UploadWriter:
        name = segment_name(offset)
        key = self.keys.segment(upload_id, name)
        return S3UploadWriter(self.client, self.bucket, key, offset, name)

    def read_upload(self, upload_id: str, segments: Sequence[str], size: int) -> Iterator[bytes]:
        return self._read_pieces(self._listing(upload_id).pieces(segments, size, exact=False))

    def publish_upload(
        self, upload_id: str, segments: Sequence[str], digest: str, size: int
    ) -> bool:
        if self.stat(digest) is not None:
            return False
        pieces = self._listing(upload_id).pieces(segments, size)
        if_absent = self.options.conditional_writes
        with _missing_as_file_not_found(upload_id):
            return self._composer.compose(pieces, self.keys.blob(digest), if_absent=if_absent)

    def publish_data(self, upload_id: str, digest: str, data: bytes | memoryview) -> bool:
        self.keys.upload(upload_id)  # nothing of the upload to drop (see the module docstring)
        body = bytes(data)  # a copy of at most one service batch; the caller reuses its buffer
        if self.options.conditional_writes:
            return self._put_if_absent(self.keys.blob(digest), body)
        if self.stat(digest) is None:
            # Without conditional writes a racing publisher may overwrite the blob: with the
            # same bytes, as keys are digests, and PutObject is atomic, so readers see no seam.
            self.client.put_object(Bucket=self.bucket, Key=self.keys.blob(digest), Body=body)
            return True
        return False

    def stored_digest(
        self, digest: str, progress: Callable[[int], None] | None = None
    ) -> str | None:
        hasher = hashlib.new(digest.split(":", 1)[0])
        try:
            for chunk in self.read(digest):
                hasher.update(chunk)
                if progress is not None:
                    progress(len(chunk))
        except FileNotFoundError:
            return None
        return hasher.hexdigest()

    def quarantine(self, digest: str) -> str | None:
        """Copy the blob under quarantine/ and delete it; readers then get 404."""
        key = self.keys.blob(digest)
        aside = f"{self.keys.prefix}quarantine/{digest.replace(':', '/')}.{time.time_ns()}"
        try:
            self.client.copy_object(
                Bucket=self.bucket, Key=aside, CopySource={"Bucket": self.bucket, "Key": key}
            )
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise
        self.client.delete_object(Bucket=self.bucket, Key=key)
        return f"s3://{self.bucket}/{aside}"

    def abort_upload(self, upload_id: str) -> None:
        self._delete_keys(list(self._listing(upload_id).keys))
        self._abort_multipart_uploads(self.keys.upload(upload_id))

    # -- internals ------------------------------------------------------------------------------

    def _listing(self, upload_id: str) -> UploadListing:
        return list_upload(self.client, self.bucket, self.keys, upload_id)

    def _put_if_absent(self, key: str, body: bytes) -> bool:
        """One PutObject that creates `key` or, if it exists, changes nothing; whether created."""
        for _ in range(CONFLICT_ATTEMPTS):
            try:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
                return True
            except ClientError as exc:
                status = _status(exc)
                if status == 412:  # the blob exists: content-addressed, the first copy stays
                    return False
                if status == 501:
                    raise OSError(
                        f"{self.options.where} does not support conditional writes "
                        "(If-None-Match); add ?conditional_writes=0 to --storage-url"
                    ) from None
                if status != 409:
                    raise
                # 409: another conditional write of the key is in flight; AWS says retry.
        raise OSError(f"conditional writes of {key} kept conflicting; try again")

    def _read_pieces(self, pieces: Sequence[Piece]) -> Iterator[bytes]:
        with _missing_as_file_not_found("the upload"):
            for piece in pieces:
                yield from self._composer.read(piece)

    def _delete_keys(self, keys: Sequence[str]) -> None:
        for i in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[i : i + DELETE_BATCH]]
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if response.get("Errors"):
                error = response["Errors"][0]
                raise OSError(f"could not delete {error['Key']}: {error.get('Message')}")

    def _abort_multipart_uploads(self, prefix: str) -> None:
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", ()):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )


@contextmanager
def _missing_as_file_not_found(what: str) -> Iterator[None]:
    """A segment deleted under us (a racing request ended the upload): FileNotFoundError, as
    the filesystem store raises, for the upload service to tell what happened."""
    try:
        yield
    except ClientError as exc:
        if _status(exc) == 404:
            raise FileNotFoundError(f"{what}: a segment is gone") from None
        raise


def _stream(body: Any) -> Iterator[bytes]:
    # Close the connection even when the reader stops early (a client that went away).
    try:
        yield from body.iter_chunks(READ_CHUNK)
    finally:
        body.close()


def _status(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
