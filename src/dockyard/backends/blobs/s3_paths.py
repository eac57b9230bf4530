"""The S3 blob store's whole key space, in one place (pure: no I/O).

    <prefix>blobs/<algorithm>/<first two hex>/<encoded>       published, immutable blobs
    <prefix>uploads/<upload id>/segments/<start, 20 digits>  bytes [start, start + size) of it

`<prefix>` is the URL's path with a trailing slash ("" for a bare bucket). Segment keys carry
their start offset zero-padded, so a listing (lexicographic) returns them in byte order; an
object's size in the listing gives its end. Published blobs use the filesystem store's layout,
so a bucket and a data directory can be compared or copied with ordinary tools. An upload
without bytes has no keys at all: which uploads exist is the metadata store's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UPLOAD_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_OFFSET_DIGITS = 20  # enough for any offset below 10**20 bytes


@dataclass(frozen=True)
class KeySpace:
    prefix: str

    @classmethod
    def under(cls, path: str) -> KeySpace:
        path = path.strip("/")
        return cls(f"{path}/" if path else "")

    # -- published blobs

    @property
    def blobs(self) -> str:
        return f"{self.prefix}blobs/"

    def blob(self, digest: str) -> str:
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"bad digest {digest!r}")
        algorithm, encoded = digest.split(":", 1)
        return f"{self.blobs}{algorithm}/{encoded[:2]}/{encoded}"

    def digest_of(self, key: str) -> str | None:
        """The digest a blob key holds; None for anything else under blobs/."""
        parts = key[len(self.blobs) :].split("/")
        if not key.startswith(self.blobs) or len(parts) != 3 or parts[2][:2] != parts[1]:
            return None
        return f"{parts[0]}:{parts[2]}"

    # -- uploads in progress

    def upload(self, upload_id: str) -> str:
        # Upload ids come from URLs; refuse anything that could name another upload's keys.
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise ValueError(f"bad upload id {upload_id!r}")
        return f"{self.prefix}uploads/{upload_id}/"

    def segments(self, upload_id: str) -> str:
        return self.upload(upload_id) + "segments/"

    def segment(self, upload_id: str, start: int) -> str:
        return f"{self.segments(upload_id)}{start:0{_OFFSET_DIGITS}d}"

    def segment_start(self, upload_id: str, key: str) -> int | None:
        """The start offset a segment key names; None for other keys of the upload."""
        tail = key[len(self.segments(upload_id)) :]
        if not key.startswith(self.segments(upload_id)) or not tail.isdigit():
            return None
        return int(tail)
