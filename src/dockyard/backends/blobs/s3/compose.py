"""Server-side composition: make one object out of byte ranges of others.

Used to publish an upload (its segments become the blob) and to cut a segment short. S3
assembles objects from multipart parts, and every part but the last must hold at least 5 MiB,
so a plan mixes two kinds of part:

    copy    a range of >= 5 MiB of one source object, copied inside S3 (UploadPartCopy);
            nothing passes through this process, whatever the size
    gather  ranges too small to be parts on their own (tiny chunks), downloaded into one buffer
            of at most GATHER_PART bytes and uploaded; only the last part may be short

    pieces: [ 3 KiB ][ 1 GiB ..................... ][ 2 MiB ][ 6 MiB ....... ]
    parts:  [gather: 3 KiB + first 8 MiB - 3 KiB ][copy ~1 GiB][gather: 2 MiB + 6 MiB]

One whole object (an upload written in one session) is a single CopyObject whatever its size
up to COPY_PART; any other plan of a single part skips multipart too (one PutObject). Memory
stays bounded by one gather buffer; copies run a few at a time in threads.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger("dockyard.s3")

MiB = 1024 * 1024
MIN_PART = 5 * MiB  # S3's minimum for every part but the last
GATHER_PART = 8 * MiB  # bytes downloaded and re-uploaded per gather part
# Copies are split so several run at once (S3 allows up to 5 GiB each); >= 2 * MIN_PART.
COPY_PART = 512 * MiB
MAX_PARTS = 10_000  # S3's limit per multipart upload
COPY_THREADS = 8
READ_CHUNK = MiB


@dataclass(frozen=True)
class Piece:
    """Bytes [start, start + length) of the object `key`, which holds `object_size` bytes."""

    key: str
    start: int
    length: int
    object_size: int

    def head(self, n: int) -> Piece:
        return Piece(self.key, self.start, n, self.object_size)

    def tail(self, n: int) -> Piece:
        return Piece(self.key, self.start + n, self.length - n, self.object_size)

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.length == self.object_size

    @property
    def range_header(self) -> str:
        return f"bytes={self.start}-{self.start + self.length - 1}"


@dataclass(frozen=True)
class Part:
    """One part of a plan: a server-side `copy` of one piece, or pieces to `gather`."""

    copy: Piece | None = None
    gather: tuple[Piece, ...] = ()

    @property
    def length(self) -> int:
        return self.copy.length if self.copy else sum(p.length for p in self.gather)


def plan(pieces: Iterable[Piece], gather_size: int = GATHER_PART) -> list[Part]:
    """Parts that reproduce `pieces` in order, each but the last at least MIN_PART long."""
    parts: list[Part] = []
    pending: list[Piece] = []
    pending_size = 0
    for piece in pieces:
        while piece.length:
            if not pending and piece.length >= MIN_PART:
                parts.extend(Part(copy=p) for p in _split(piece))
                break
            take = min(piece.length, gather_size - pending_size)
            pending.append(piece.head(take))
            pending_size += take
            piece = piece.tail(take)
            if pending_size == gather_size:
                parts.append(Part(gather=tuple(pending)))
                pending, pending_size = [], 0
    if pending:
        parts.append(Part(gather=tuple(pending)))
    if len(parts) > MAX_PARTS:
        raise OSError(f"cannot compose {len(parts)} parts; S3 allows {MAX_PARTS}")
    return parts


def _split(piece: Piece) -> Iterator[Piece]:
    # Even shares: each is > COPY_PART / 2 >= MIN_PART when there are several.
    count = math.ceil(piece.length / COPY_PART)
    done = 0
    for i in range(1, count + 1):
        end = piece.length * i // count
        yield Piece(piece.key, piece.start + done, end - done, piece.object_size)
        done = end


def _one_whole_object(pieces: list[Piece], key: str) -> bool:
    only = pieces[0] if len(pieces) == 1 else None
    return only is not None and only.whole and only.key != key and only.length <= COPY_PART


def checksum_args(client: Any) -> dict[str, str]:
    """Checksum arguments for multipart uploads, as boto3's own transfer manager sends them.

    With botocore's default (`when_supported`) every UploadPart carries a CRC32 that S3
    verifies; the multipart upload must then be created with that algorithm and completed with
    each part's checksum. With `when_required` (AWS_REQUEST_CHECKSUM_CALCULATION, for stores
    that reject checksums) nothing is sent.
    """
    if client.meta.config.request_checksum_calculation == "when_supported":
        return {"ChecksumAlgorithm": "CRC32"}
    return {}


def part_entry(number: int, result: dict[str, Any]) -> dict[str, Any]:
    """A CompleteMultipartUpload part from an UploadPart response or a CopyPartResult."""
    entry = {"PartNumber": number, "ETag": result["ETag"]}
    if "ChecksumCRC32" in result:
        entry["ChecksumCRC32"] = result["ChecksumCRC32"]
    return entry


class Composer:
    """Runs plans against one bucket with a boto3 S3 client."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client, self.bucket = client, bucket

    def compose(self, pieces: Iterable[Piece], key: str, if_absent: bool = False) -> bool:
        """Write the concatenation of `pieces` to `key`; the object appears all at once.

        With `if_absent` the final write is conditional (If-None-Match: *): an existing `key`
        is never replaced, and False says it was there (412). True when written.
        """
        condition = {"IfNoneMatch": "*"} if if_absent else {}
        try:
            self._compose(list(pieces), key, condition)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412:
                return False
            raise
        return True

    def _compose(self, pieces: list[Piece], key: str, condition: dict[str, str]) -> None:
        if _one_whole_object(pieces, key):
            # However small, one server-side copy: one request, and no bytes pass through
            # this process (gathering it would GET and PUT them).
            self.client.copy_object(
                Bucket=self.bucket, Key=key, CopySource=self._source(pieces[0]), **condition
            )
            return
        parts = plan(pieces)
        if not parts:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=b"", **condition)
        elif len(parts) == 1 and parts[0].gather:
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=self.gathered(parts[0]), **condition
            )
        else:
            self._multipart(parts, key, condition)

    def gathered(self, part: Part) -> bytearray:
        buffer = bytearray()
        for piece in part.gather:
            for chunk in self.read(piece):
                buffer += chunk
        return buffer

    def read(self, piece: Piece) -> Iterator[bytes]:
        """The bytes of one piece, by a ranged GET, in chunks of at most READ_CHUNK."""
        if not piece.length:
            return
        response = self.client.get_object(
            Bucket=self.bucket, Key=piece.key, Range=piece.range_header
        )
        body = response["Body"]
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()

    def _multipart(self, parts: list[Part], key: str, condition: dict[str, str]) -> None:
        created = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, **checksum_args(self.client)
        )
        upload_id = created["UploadId"]
        try:
            entries = self._upload_parts(parts, key, upload_id)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": entries}, **condition,
            )  # fmt: skip
        except BaseException:
            self._abort(key, upload_id)
            raise

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception:  # keep the original error; a bucket lifecycle rule mops up
            log.warning("could not abort multipart upload of %s", key, exc_info=True)

    def _upload_parts(self, parts: list[Part], key: str, upload_id: str) -> list[dict[str, Any]]:
        # Copies run in threads; gathers run here one at a time, so one buffer is ever held.
        with ThreadPoolExecutor(COPY_THREADS, thread_name_prefix="s3-compose") as pool:
            results: list[Any] = []
            for number, part in enumerate(parts, 1):
                if part.copy is not None:
                    results.append(pool.submit(self._copy_part, part.copy, key, upload_id, number))
                else:
                    results.append(self._gather_part(part, key, upload_id, number))
            return [r if isinstance(r, dict) else r.result() for r in results]

    def _copy_part(self, piece: Piece, key: str, upload_id: str, number: int) -> dict[str, Any]:
        response = self.client.upload_part_copy(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
            CopySource=self._source(piece), CopySourceRange=piece.range_header,
        )  # fmt: skip
        return part_entry(number, response["CopyPartResult"])

    def _gather_part(self, part: Part, key: str, upload_id: str, number: int) -> dict[str, Any]:
        response = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
            Body=self.gathered(part), **checksum_args(self.client),
        )  # fmt: skip
        return part_entry(number, response)

    def _source(self, piece: Piece) -> dict[str, str]:
        return {"Bucket": self.bucket, "Key": piece.key}
