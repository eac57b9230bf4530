"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW), shared by any number of servers.

Configured by `--storage-url s3://bucket/prefix?...` (options in s3_config.py). Key space (see
s3_paths.py):

    <prefix>blobs/sha256/ab/abcd...                 published blobs, immutable
    <prefix>uploads/<id>/started                    the upload exists (empty marker)
    <prefix>uploads/<id>/segments/00000000000000000000   bytes written by write session 1
    <prefix>uploads/<id>/segments/00000000000004194304   ... session 2, starting at 4 MiB

Upload protocol. Chunks of any size may reach any server process, so everything needed to go
on is in the bucket and nothing lives only in a process:

    start_upload(id)        PutObject the marker
    open_upload(id, off)    list uploads/<id>/ (one request): the segments form a chain from 0;
                            delete segments starting at or after `off` and cut the one that
                            straddles it (a server-side copy onto itself): those bytes were
                            never acknowledged. Returns a writer for segments/<off>.
    writer.write(bytes)     buffers 8 MiB parts; the first full part starts a multipart upload
                            of the segment, parts upload in threads (two in flight)
    writer.close()          PutObject (sessions under 8 MiB) or CompleteMultipartUpload: the
                            segment appears atomically and durably, then the size is returned
    writer.abort() / crash  AbortMultipartUpload, or an incomplete one left for the cleanup
                            below; no segment appears, the chain still ends at `off`
    read_upload(id, n)      ranged GETs over the chain's first n bytes
    publish_upload(...)     (the service verified the digest first) if blobs/<digest> exists,
                            just drop the upload; else compose the chain's first `size` bytes
                            into blobs/<digest>: a multipart upload whose parts are
                            server-side copies of segment ranges >= 5 MiB (small segments are
                            gathered into 8 MiB uploaded parts), completed straight to the final
                            key, where the blob appears all at once (one segment of up to
                            512 MiB is a single CopyObject). Then the upload's objects and any
                            incomplete multipart uploads under its prefix are deleted.

One segment per write session (not per part) keeps the request count low for ordinary pushes
(one PATCH or PUT: one PutObject or one multipart upload, then one server-side copy) while
tiny chunks cost one small PutObject each, gathered at publish. No state is kept in the
metadata store: a listing of the upload's prefix is the state. This relies on the bucket
being strongly consistent (AWS S3 since 2020, MinIO, Ceph RGW) and, like the upload service,
on one writer per upload at a time.

Memory is bounded per upload (the writer's 8 MiB buffer plus two parts in flight, or one 8 MiB
gather buffer while composing); reads stream 1 MiB chunks from ranged GETs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from dockyard.backends.blobs import s3_config
from dockyard.backends.blobs.s3_compose import READ_CHUNK, Composer, Piece
from dockyard.backends.blobs.s3_config import S3Options
from dockyard.backends.blobs.s3_paths import KeySpace
from dockyard.backends.blobs.s3_segments import UploadListing, list_upload
from dockyard.backends.blobs.s3_writer import S3UploadWriter
from dockyard.backends.factory import ConfigurationError

DELETE_BATCH = 1000  # S3's limit per DeleteObjects request


class S3BlobStore:
    reads_are_local = False

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

    # -- uploads --------------------------------------------------------------------------------

    def start_upload(self, upload_id: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.keys.marker(upload_id), Body=b"")

    def open_upload(self, upload_id: str, offset: int) -> S3UploadWriter:
        listing = self._listing(upload_id)
        if not listing.started:
            self.start_upload(upload_id)
        self._cut(listing, offset)
        key = self.keys.segment(upload_id, offset)
        return S3UploadWriter(self.client, self.bucket, key, offset)

    def read_upload(self, upload_id: str, size: int) -> Iterator[bytes]:
        listing = self._existing(upload_id)
        return self._read_pieces(listing.pieces(size))

    def publish_upload(self, upload_id: str, digest: str, size: int) -> None:
        target = self.keys.blob(digest)
        if self.stat(digest) is None:
            pieces = self._existing(upload_id).pieces(size)
            held = sum(p.length for p in pieces)
            if held != size:
                raise OSError(f"upload {upload_id} holds {held} bytes, not {size}")
            self._composer.compose(pieces, target)
        self.abort_upload(upload_id)

    def abort_upload(self, upload_id: str) -> None:
        # Objects first, then multipart uploads a crashed or failed writer left incomplete.
        self._delete_keys(self._listing(upload_id).keys + [self.keys.marker(upload_id)])
        self._abort_multipart_uploads(self.keys.upload(upload_id))

    # -- internals ------------------------------------------------------------------------------

    def _listing(self, upload_id: str) -> UploadListing:
        return list_upload(self.client, self.bucket, self.keys, upload_id)

    def _existing(self, upload_id: str) -> UploadListing:
        listing = self._listing(upload_id)
        if not listing.started:
            raise FileNotFoundError(f"upload {upload_id} is not in {self.options.where}")
        return listing

    def _cut(self, listing: UploadListing, offset: int) -> None:
        """Make the chain end exactly at `offset`: bytes past it were never acknowledged."""
        kept = listing.pieces(offset)
        held = sum(p.length for p in kept)
        if held != offset:
            raise OSError(f"upload holds {held} bytes; cannot continue at {offset}")
        if kept and not kept[-1].whole:
            last = kept[-1]
            # Copying a prefix of the object onto itself replaces it atomically.
            self._composer.compose([last], last.key)
        self._delete_keys(listing.beyond(offset))

    def _read_pieces(self, pieces: Sequence[Piece]) -> Iterator[bytes]:
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


def _stream(body: Any) -> Iterator[bytes]:
    # Close the connection even when the reader stops early (a client that went away).
    try:
        yield from body.iter_chunks(READ_CHUNK)
    finally:
        body.close()


def _status(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
