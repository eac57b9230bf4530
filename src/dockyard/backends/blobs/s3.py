"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW), shared by any number of servers.

Configured by `--storage-url s3://bucket/prefix?...` (options in s3_config.py). Key space (see
s3_paths.py):

    <prefix>blobs/sha256/ab/abcd...                 published blobs, immutable
    <prefix>uploads/<id>/segments/00000000000000000000   bytes written by write session 1
    <prefix>uploads/<id>/segments/00000000000004194304   ... session 2, starting at 4 MiB

Upload protocol. Chunks of any size may reach any server process, so everything needed to go
on is in the bucket and nothing lives only in a process (requests to S3 in brackets):

    start_upload(id)        nothing: the metadata store records the upload [0]
    publish_data(id, d, b)  the whole blob arrived with the request that completes an upload
                            holding no bytes yet, and the service verified it: one conditional
                            PutObject (If-None-Match: *) straight to blobs/<d>, atomic, a no-op
                            where the blob exists [1]. The common case for small blobs.
    open_upload(id, off)    list uploads/<id>/: the segments form a chain from 0; delete
                            segments starting at or after `off` and cut the one that straddles
                            it (a server-side copy onto itself): those bytes were never
                            acknowledged. Returns a writer for segments/<off> [1, more to cut].
                            At offset 0 nothing is listed: any earlier session wrote the same
                            key, which the writer replaces (or deletes if it ends empty) [0]
    writer.write(bytes)     buffers 8 MiB parts; the first full part starts a multipart upload
                            of the segment, parts upload in threads (two in flight)
    writer.close()          PutObject (sessions under 8 MiB) or CompleteMultipartUpload: the
                            segment appears atomically and durably, then the size is returned
    writer.abort() / crash  AbortMultipartUpload, or an incomplete one left for the cleanup
                            below; no segment appears, the chain still ends at `off`
    read_upload(id, n)      list, then ranged GETs over the chain's first n bytes
    publish_upload(...)     (the service verified the digest first) if blobs/<digest> exists
                            (HEAD), just drop the upload; else compose the chain's first `size`
                            bytes into blobs/<digest>: one whole segment is one CopyObject (up to
                            512 MiB); otherwise a multipart upload whose parts are server-side
                            copies of segment ranges >= 5 MiB (small segments are gathered into
                            8 MiB uploaded parts), completed straight to the final key, where
                            the blob appears all at once. Then the listed objects are deleted
                            and any incomplete multipart uploads under the upload's prefix
                            aborted [HEAD, list, copy, delete, list multipart uploads: 5]
    abort_upload(id)        the same cleanup [list, delete, list multipart uploads: 3]

One segment per write session (not per part) keeps the request count low for ordinary pushes
while tiny chunks cost one small PutObject each, gathered at publish. No state is kept in the
metadata store but the acknowledged size: a listing of the upload's prefix is the rest. This
relies on the bucket being strongly consistent (AWS S3 since 2020, MinIO, Ceph RGW) and, like
the upload service, on one writer per upload at a time.

publish_data does not list the upload: bytes of a write that was never acknowledged (a chunk
that reached S3 while its process died before recording the size) stay under uploads/<id>/
after a one-request completion, as do uploads that clients abandon. A bucket lifecycle rule on
`<prefix>uploads/` (expire objects and abort incomplete multipart uploads after a few days)
removes both; listing every upload to look for them would double the requests of a small blob.

Memory is bounded per upload (the writer's 8 MiB buffer plus two parts in flight, or one 8 MiB
gather buffer while composing, or the service's batch for publish_data); reads stream 1 MiB
chunks from ranged GETs.
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
CONFLICT_ATTEMPTS = 3  # conditional puts answered 409 (a concurrent write of the same key)


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
        # Nothing to store: a marker would cost a PUT here and a DELETE at the end of every
        # upload. Still refuse an id that could name other keys.
        self.keys.upload(upload_id)

    def open_upload(self, upload_id: str, offset: int) -> S3UploadWriter:
        key = self.keys.segment(upload_id, offset)
        if offset == 0:
            # Every session of an upload that has acknowledged nothing wrote this one key (a
            # session starts where the acknowledged bytes end): nothing else to cut, and the
            # new segment replaces the key. Spares a listing on every upload's first chunk.
            return S3UploadWriter(self.client, self.bucket, key, 0, replaces=True)
        self._cut(self._listing(upload_id), offset)
        return S3UploadWriter(self.client, self.bucket, key, offset)

    def read_upload(self, upload_id: str, size: int) -> Iterator[bytes]:
        return self._read_pieces(self._listing(upload_id).pieces(size))

    def publish_upload(self, upload_id: str, digest: str, size: int) -> None:
        listing = None
        if self.stat(digest) is None:
            listing = self._listing(upload_id)
            pieces = listing.pieces(size)
            held = sum(p.length for p in pieces)
            if held != size:
                raise OSError(f"upload {upload_id} holds {held} bytes, not {size}")
            self._composer.compose(pieces, self.keys.blob(digest))
        self._end_upload(upload_id, listing)

    def publish_data(self, upload_id: str, digest: str, data: bytes | memoryview) -> None:
        self.keys.upload(upload_id)  # nothing of the upload to drop (see the module docstring)
        body = bytes(data)  # a copy of at most one service batch; the caller reuses its buffer
        if self.options.conditional_writes:
            self._put_if_absent(self.keys.blob(digest), body)
        elif self.stat(digest) is None:
            # Without conditional writes a racing publisher may overwrite the blob: with the
            # same bytes, as keys are digests, and PutObject is atomic, so readers see no seam.
            self.client.put_object(Bucket=self.bucket, Key=self.keys.blob(digest), Body=body)

    def abort_upload(self, upload_id: str) -> None:
        self._end_upload(upload_id, None)

    # -- internals ------------------------------------------------------------------------------

    def _listing(self, upload_id: str) -> UploadListing:
        return list_upload(self.client, self.bucket, self.keys, upload_id)

    def _end_upload(self, upload_id: str, listing: UploadListing | None) -> None:
        # Objects first (the listing taken to publish, if any: nobody else writes to the upload
        # meanwhile), then multipart uploads a crashed or failed writer left incomplete.
        if listing is None:
            listing = self._listing(upload_id)
        self._delete_keys(listing.keys)
        self._abort_multipart_uploads(self.keys.upload(upload_id))

    def _put_if_absent(self, key: str, body: bytes) -> None:
        """One PutObject that creates `key` or, if it exists, changes nothing."""
        for _ in range(CONFLICT_ATTEMPTS):
            try:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
                return
            except ClientError as exc:
                status = _status(exc)
                if status == 412:  # the blob exists: content-addressed, the first copy stays
                    return
                if status == 501:
                    raise OSError(
                        f"{self.options.where} does not support conditional writes "
                        "(If-None-Match); add ?conditional_writes=0 to --storage-url"
                    ) from None
                if status != 409:
                    raise
                # 409: another conditional write of the key is in flight; AWS says retry.
        raise OSError(f"conditional writes of {key} kept conflicting; try again")

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
