"""What an upload holds in S3, read from one listing of its prefix.

An upload is a chain of segments named by the metadata store (one per acknowledged chunk, in
byte order). The listing also shows segments nobody acknowledged (a racing writer that lost,
a writer whose process died) and anything else under the prefix; those are only ever deleted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.backends.blobs.s3.compose import Piece
from dockyard.backends.blobs.s3.paths import KeySpace


@dataclass(frozen=True)
class UploadListing:
    sizes: dict[str, int]  # segment name -> object size
    keys: tuple[str, ...]  # every key under the upload's prefix
    segment_key: Any  # name -> key

    def pieces(self, chain: Sequence[str], size: int, exact: bool = True) -> list[Piece]:
        """The pieces holding the chain's first `size` bytes; OSError if it holds fewer
        (unless not `exact`: then what there is)."""
        pieces: list[Piece] = []
        left = size
        for name in chain:
            if left <= 0:
                break
            if name not in self.sizes:
                raise FileNotFoundError(f"segment {name} of the upload is missing")
            held = self.sizes[name]
            take = min(held, left)
            if take:
                pieces.append(Piece(self.segment_key(name), 0, take, held))
            left -= take
        if left > 0 and exact:
            raise OSError(f"the upload holds {size - left} bytes, not {size}")
        return pieces


def list_upload(client: Any, bucket: str, keys: KeySpace, upload_id: str) -> UploadListing:
    sizes: dict[str, int] = {}
    every: list[str] = []
    for item in _objects(client, bucket, keys.upload(upload_id)):
        every.append(item["Key"])
        name = keys.segment_name(upload_id, item["Key"])
        if name is not None:
            sizes[name] = item["Size"]
    return UploadListing(sizes, tuple(every), lambda name: keys.segment(upload_id, name))


def _objects(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", ())
