"""The filesystem blob store's whole key space, in one place.

    <root>/blobs/<algorithm>/<first two hex>/<encoded>   published, immutable blobs
    <root>/uploads/<upload id>/<start>-<token>           one segment per acknowledged chunk
    <root>/uploads/<upload id>/joined-<token>            segments joined, about to be published
    <root>/quarantine/<algorithm>/<encoded>.<time>       blobs `dockyard verify --repair` moved aside

Uploads live on the same filesystem as blobs so that publishing is one hard link.
"""

from __future__ import annotations

import re
from pathlib import Path

_UPLOAD_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_STAGED = re.compile(r"[0-9]{20}-[0-9a-f]{16}|joined-[0-9a-f]{16}")


def blob_path(root: Path, digest: str) -> Path:
    algorithm, encoded = digest.split(":", 1)
    return root / "blobs" / algorithm / encoded[:2] / encoded


def blob_file(root: str, digest: str) -> str:
    """`blob_path` as a string, without pathlib: the collector deletes blobs by the hundred
    thousand, and building a Path costs more than the unlink."""
    algorithm, encoded = digest.split(":", 1)
    return f"{root}/blobs/{algorithm}/{encoded[:2]}/{encoded}"


def blobs_root(root: Path) -> Path:
    return root / "blobs"


def upload_dir(root: Path, upload_id: str) -> Path:
    # Upload ids come from URLs; refuse anything that could leave the uploads directory.
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise ValueError(f"bad upload id {upload_id!r}")
    return root / "uploads" / upload_id


def staged_path(root: Path, upload_id: str, name: str) -> Path:
    """A segment (or a join of segments) of an upload; names come from the metadata store."""
    if not _STAGED.fullmatch(name):
        raise ValueError(f"bad segment name {name!r}")
    return upload_dir(root, upload_id) / name


def quarantine_path(root: Path, digest: str, stamp: int) -> Path:
    algorithm, encoded = digest.split(":", 1)
    return root / "quarantine" / algorithm / f"{encoded}.{stamp}"
