"""Claiming due rows of a durable queue table: shared by the webhook outbox and replication.

A queue table has `id`, `next_attempt_at`, `attempts`, `claimed_by` and `claimed_at`. A row is
due when its own condition holds (a state column) and `next_attempt_at <= now`; it is free when
unclaimed or when its claim is older than the lease (its holder died: at-least-once). On
PostgreSQL the due rows are locked FOR UPDATE SKIP LOCKED so concurrent workers take different
rows; on SQLite the IMMEDIATE write transaction serialises them.

    claim_due(conn, table, due, worker, now, lease, limit) -> the claimed rows, oldest first
    release(conn, table, row_id, **values)  -> one more attempt counted, claim dropped
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row


def claim_due(
    conn: Connection,
    table: sa.Table,
    due: sa.ColumnElement[bool],
    columns: Sequence[sa.ColumnElement[object]],
    worker: str,
    now: float,
    lease: float,
    limit: int,
) -> list[Row]:
    free = table.c.claimed_at.is_(None) | (table.c.claimed_at < now - lease)
    stmt = (
        sa.select(table.c.id, *columns).where(due, table.c.next_attempt_at <= now, free)
        .order_by(table.c.id).limit(limit).with_for_update(skip_locked=True)
    )  # fmt: skip
    rows = conn.execute(stmt).all()
    if rows:
        conn.execute(
            sa.update(table)
            .where(table.c.id.in_([row.id for row in rows]))
            .values(claimed_by=worker, claimed_at=now)
        )
    return list(rows)


def release(conn: Connection, table: sa.Table, row_id: int, **values: object) -> None:
    """Count the attempt and drop the claim, with the row's other `values` (next time, error)."""
    values.update(attempts=table.c.attempts + 1, claimed_by=None, claimed_at=None)
    conn.execute(sa.update(table).where(table.c.id == row_id).values(values))
