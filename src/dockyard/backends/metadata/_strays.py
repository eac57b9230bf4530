"""What the collector's stray pass asks of the metadata store (services/gc_strays.py).

Stored bytes with no blob row are claimed by inserting the row straight as `deleting`, one
insert-if-absent each: the insert is the compare-and-set. If an upload pinned the digest first,
its row exists and the insert does nothing (the bytes are the upload's now); once the deleting
row exists, a publisher's pin waits until the collector has deleted the bytes and forgotten the
row (`forget_blobs`), then publishes anew. A pass that stops in between leaves deleting rows,
which the next pass finishes like any other (`deleting`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata import dialects
from dockyard.backends.metadata.schema import blobs, uploads
from dockyard.ports import BlobClaim

DELETING = "deleting"
CHUNK = 500  # keys per IN (...), well below every engine's bound-parameter limit


def blobs_without_rows(conn: Connection, digests: Sequence[str]) -> list[str]:
    return _absent(conn, blobs.c.digest, digests)


def uploads_without_rows(conn: Connection, upload_ids: Sequence[str]) -> list[str]:
    return _absent(conn, uploads.c.id, upload_ids)


def claim_strays(conn: Connection, strays: Sequence[BlobClaim], now: float) -> list[BlobClaim]:
    claimed = []
    for stray in sorted(strays, key=lambda claim: claim.digest):
        row = {
            "digest": stray.digest,
            "size": stray.size,
            "created_at": now,
            "touched_at": now,
            "state": DELETING,
        }
        # RETURNING, not rowcount: psycopg counts a skipped ON CONFLICT row as one.
        insert = dialects.insert_ignore(conn, blobs, ["digest"]).values(row)
        if conn.execute(insert.returning(blobs.c.digest)).first() is not None:
            claimed.append(stray)
    return claimed


def _absent(conn: Connection, column: sa.Column, keys: Sequence[str]) -> list[str]:
    present: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        chunk = list(keys[i : i + CHUNK])
        present.update(conn.execute(sa.select(column).where(column.in_(chunk))).scalars())
    return [key for key in keys if key not in present]
