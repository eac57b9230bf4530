"""The S3 blob store's whole key space, in one place (pure: no I/O).

    <prefix>blobs/<algorithm>/<first two hex>/<encoded>       published, immutable blobs
    <prefix>uploads/<upload id>/segments/<start, 20 digits>-<token>  one writer's bytes
                                             [start, start + size) of the upload

`<prefix>` is the URL's path with a trailing slash ("" for a bare bucket). Segment keys carry
their start offset zero-padded and a token of the writer that wrote them: two requests racing
on one upload write two keys, and the metadata store records which one was acknowledged. Published blobs use the filesystem store's layout,
so a bucket and a data directory can be compared or copied with ordinary tools. An upload
without bytes has no keys at all: which uploads exist is the metadata store's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UPLOAD_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_SEGMENT = re.compile(r"[0-9]{20}-[0-9a-f]{16}")  # memory.segment_name's form


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

    def segment(self, upload_id: str, name: str) -> str:
        if not _SEGMENT.fullmatch(name):
            raise ValueError(f"bad segment name {name!r}")
        return self.segments(upload_id) + name

    def segment_name(self, upload_id: str, key: str) -> str | None:
        """The segment a key names; None for other keys of the upload."""
        tail = key[len(self.segments(upload_id)) :]
        if not key.startswith(self.segments(upload_id)) or not _SEGMENT.fullmatch(tail):
            return None
        return tail
