"""The webhook outbox (the OutboxStore port), mixed into SqlMetadataStore.

    outbox row: PENDING ──claim──> (claimed_by, claimed_at set) ──delivered──> deleted
                   ^                     │ failed
                   └── attempts+1, next_attempt_at later, claim released
                                         │ failed the last attempt
                                         └──> DEAD (kept, last_error)

Claiming is _claims.py's (shared with the replication queue): on PostgreSQL the due rows are
locked with FOR UPDATE SKIP LOCKED so concurrent dispatchers take different rows; on SQLite the
IMMEDIATE write transaction serialises them. A claim older than the lease is free again, so a
dispatcher that died mid-delivery delays its rows, never loses them (at-least-once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata._claims import claim_due, release
from dockyard.backends.metadata.schema import outbox, repositories
from dockyard.domain.events import Delivery, DeliveryState, OutboxEntry

_PENDING = str(DeliveryState.PENDING)


def claim(conn: Connection, worker: str, now: float, lease: float, limit: int) -> list[Delivery]:
    columns = (outbox.c.event_id, outbox.c.webhook, outbox.c.body, outbox.c.attempts)
    rows = claim_due(conn, outbox, outbox.c.state == _PENDING, columns, worker, now, lease, limit)
    return [Delivery(row.id, row.event_id, row.webhook, row.body, row.attempts) for row in rows]


class OutboxMethods:
    """The OutboxStore port (see ports.py)."""

    _read: Callable[[], AbstractContextManager[Connection]]  # SqlMetadataStore's transactions
    _write: Callable[[], AbstractContextManager[Connection]]

    def add_outbox_entries(self, entries: Sequence[OutboxEntry]) -> None:
        if not entries:
            return
        rows = [
            {
                "event_id": e.event_id,
                "webhook": e.webhook,
                "body": e.body,
                "state": _PENDING,
                "attempts": 0,
                "next_attempt_at": e.created_at,
                "created_at": e.created_at,
            }
            for e in entries
        ]
        with self._write() as conn:
            conn.execute(sa.insert(outbox), rows)

    def claim_deliveries(
        self, worker: str, now: float, lease_seconds: float, limit: int
    ) -> list[Delivery]:
        with self._write() as conn:
            return claim(conn, worker, now, lease_seconds, limit)

    def delivered(self, delivery_id: int) -> None:
        with self._write() as conn:
            conn.execute(sa.delete(outbox).where(outbox.c.id == delivery_id))

    def retry_delivery(self, delivery_id: int, next_attempt_at: float, error: str) -> None:
        self._release(delivery_id, next_attempt_at=next_attempt_at, last_error=error[:2000])

    def bury_delivery(self, delivery_id: int, error: str) -> None:
        self._release(delivery_id, state=str(DeliveryState.DEAD), last_error=error[:2000])

    def _release(self, delivery_id: int, **values: object) -> None:
        with self._write() as conn:
            release(conn, outbox, delivery_id, **values)

    def delete_dead_deliveries(self) -> int:
        with self._write() as conn:
            dead = outbox.c.state == str(DeliveryState.DEAD)
            return conn.execute(sa.delete(outbox).where(dead)).rowcount

    def outbox_counts(self) -> dict[str, int]:
        stmt = sa.select(outbox.c.state, sa.func.count()).group_by(outbox.c.state)
        with self._read() as conn:
            found = {state: count for state, count in conn.execute(stmt)}
        return {str(state): found.get(str(state), 0) for state in DeliveryState}

    def repository_name(self, repo_id: int) -> tuple[str, str] | None:
        stmt = sa.select(repositories.c.account_id, repositories.c.name).where(
            repositories.c.id == repo_id
        )
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else (row.account_id, row.name)
