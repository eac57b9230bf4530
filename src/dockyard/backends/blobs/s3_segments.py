"""What an upload holds in S3, read from one listing of its prefix.

An upload is a chain of segments, one per write session, each starting where the previous one
ends. A segment counts up to the next segment's start (a later session wins where they
overlap); the chain stops at the first gap. Neither should happen (opening a writer cuts the
chain at its offset before anything is written), but a listing taken while a crashed process's
cut was half done must still read as the acknowledged prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dockyard.backends.blobs.s3_compose import Piece
from dockyard.backends.blobs.s3_paths import KeySpace

ALL = 1 << 62


@dataclass(frozen=True)
class Segment:
    key: str
    start: int
    size: int


@dataclass(frozen=True)
class UploadListing:
    segments: tuple[Segment, ...]  # in byte order
    other_keys: tuple[str, ...]  # anything else under the upload's prefix (older markers)

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.segments] + list(self.other_keys)

    def pieces(self, size: int = ALL) -> list[Piece]:
        """The pieces holding the upload's first `size` bytes (fewer if it holds fewer)."""
        pieces: list[Piece] = []
        position = 0
        following_starts = [s.start for s in self.segments[1:]] + [ALL]
        for segment, following in zip(self.segments, following_starts, strict=False):
            if position >= size or segment.start != position:
                break
            end = min(segment.start + segment.size, size, following)
            pieces.append(Piece(segment.key, 0, end - segment.start, segment.size))
            position = end
        return [p for p in pieces if p.length]

    def size(self) -> int:
        return sum(p.length for p in self.pieces())

    def beyond(self, offset: int) -> list[str]:
        """Keys of the segments that start at or after `offset`."""
        return [s.key for s in self.segments if s.start >= offset]


def list_upload(client: Any, bucket: str, keys: KeySpace, upload_id: str) -> UploadListing:
    segments: list[Segment] = []
    others: list[str] = []
    for item in _objects(client, bucket, keys.upload(upload_id)):
        start = keys.segment_start(upload_id, item["Key"])
        if start is not None:
            segments.append(Segment(item["Key"], start, item["Size"]))
        else:
            others.append(item["Key"])
    segments.sort(key=lambda s: s.start)
    return UploadListing(tuple(segments), tuple(others))


def _objects(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", ())
