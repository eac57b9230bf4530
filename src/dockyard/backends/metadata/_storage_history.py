"""StorageHistory in SQL: a row per garbage collection, a row per account and collection.

Reads are index walks from the newest end: the last collection by its id, an account's samples
by the (account_id, recorded_at) primary key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata.schema import gc_runs, storage_totals
from dockyard.ports import GcRunRecord


class StorageHistoryMethods:
    _read: Callable[[], AbstractContextManager[Connection]]  # SqlMetadataStore's transactions
    _write: Callable[[], AbstractContextManager[Connection]]

    def record_collection(self, run: GcRunRecord, totals: Sequence[tuple[str, int]]) -> None:
        """`totals` holds the accounts that store something; the others recorded before get 0."""
        with self._write() as conn:
            conn.execute(
                sa.insert(gc_runs).values(
                    finished_at=run.finished_at,
                    blobs_freed=run.blobs_freed,
                    bytes_freed=run.bytes_freed,
                    uploads_expired=run.uploads_expired,
                )
            )
            # An account that stored bytes before and none now gets a 0 sample, not a gap.
            known = conn.execute(sa.select(storage_totals.c.account_id).distinct()).scalars()
            sizes = dict.fromkeys(known, 0) | dict(totals)
            if sizes:
                conn.execute(
                    sa.insert(storage_totals),
                    [
                        {"account_id": account, "recorded_at": run.finished_at, "total_bytes": size}
                        for account, size in sizes.items()
                    ],
                )

    def last_collection(self) -> GcRunRecord | None:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(gc_runs).order_by(gc_runs.c.id.desc()).limit(1))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return GcRunRecord(
            row["finished_at"], row["blobs_freed"], row["bytes_freed"], row["uploads_expired"]
        )

    def storage_history(self, account_id: str, limit: int) -> list[tuple[float, int]]:
        stmt = (
            sa.select(storage_totals.c.recorded_at, storage_totals.c.total_bytes)
            .where(storage_totals.c.account_id == account_id)
            .order_by(storage_totals.c.recorded_at.desc())
            .limit(limit)
        )
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return [(at, size) for at, size in reversed(rows)]
