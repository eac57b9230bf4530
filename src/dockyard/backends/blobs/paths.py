"""The filesystem blob store's whole key space, in one place.

    <root>/blobs/<algorithm>/<first two hex>/<encoded>   published, immutable blobs
    <root>/uploads/<upload id>                           bytes of an upload in progress

Uploads live on the same filesystem as blobs so that publishing is one atomic rename.
"""

from __future__ import annotations

import re
from pathlib import Path

_UPLOAD_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def blob_path(root: Path, digest: str) -> Path:
    algorithm, encoded = digest.split(":", 1)
    return root / "blobs" / algorithm / encoded[:2] / encoded


def blobs_root(root: Path) -> Path:
    return root / "blobs"


def upload_path(root: Path, upload_id: str) -> Path:
    # Upload ids come from URLs; refuse anything that could leave the uploads directory.
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise ValueError(f"bad upload id {upload_id!r}")
    return root / "uploads" / upload_id
