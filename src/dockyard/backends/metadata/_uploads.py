"""Upload sessions (the UploadStore port): rows that move only by compare-and-set.

    create ──> advance (generation g -> g + 1, + one segment)* ──> finish | delete

`advance_upload` and `finish_upload` name the generation their caller read; a statement that
matches no row means another writer moved the upload first (or it is gone), and changes
nothing. Finishing deletes the session row before linking the blob, in one transaction: a
`DeleteRepository --force` running at the same time deletes the session first too (see
`sql.delete_repository`), so exactly one of them finds the row, whatever the interleaving.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata import _rows
from dockyard.backends.metadata.schema import uploads
from dockyard.domain.models import Upload

# Every blob pushed runs these: built once, as a statement built per call costs more Python
# (construction and its cache key) than the query itself.
_CREATE = sa.insert(uploads)
_GET = sa.select(uploads).where(uploads.c.id == sa.bindparam("b_id"))
_TAKE = sa.delete(uploads).where(
    uploads.c.id == sa.bindparam("b_id"), uploads.c.generation == sa.bindparam("b_generation")
)


def create(conn: Connection, upload: Upload) -> None:
    conn.execute(_CREATE, {
        "id": upload.id, "repo_id": upload.repo_id, "size": upload.size,
        "created_at": upload.created_at, "hash_state": upload.hash_state,
        "generation": upload.generation, "segments": " ".join(upload.segments) or None,
    })  # fmt: skip


def get(conn: Connection, upload_id: str) -> Upload | None:
    found = conn.execute(_GET, {"b_id": upload_id}).mappings().first()
    return None if found is None else _rows.to_upload(found)


def advance(
    conn: Connection, upload: Upload, size: int, segment: str, hash_state: bytes | None
) -> Upload | None:
    moved = Upload(
        upload.id, upload.repo_id, size, upload.created_at, hash_state,
        upload.generation + 1, (*upload.segments, segment),
    )  # fmt: skip
    stmt = (
        sa.update(uploads)
        .where(uploads.c.id == upload.id, uploads.c.generation == upload.generation)
        .values(size=size, hash_state=hash_state, generation=moved.generation,
                segments=" ".join(moved.segments))
    )  # fmt: skip
    return moved if conn.execute(stmt).rowcount == 1 else None


def take(conn: Connection, upload_id: str, generation: int) -> bool:
    """Delete the session if it is still at `generation`; whether it was."""
    return conn.execute(_TAKE, {"b_id": upload_id, "b_generation": generation}).rowcount == 1
