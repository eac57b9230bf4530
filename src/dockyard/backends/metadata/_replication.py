"""Replication configurations and the copy queue (the ReplicationStore port), mixed into
SqlMetadataStore.

    replication_configurations  account_id -> the validated configuration document (JSON)
    replication_tasks           one row per (source repository, image digest, destination):

        queued IN_PROGRESS ──claim (_claims.py)──> copying ──> COMPLETE | FAILED (row kept:
              ^                                     │          it is the image's status)
              └── attempts+1, next_attempt_at later ┘ transient failure (claim released)

A push of the same image again (or a tag moved to it) starts its rows over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata._claims import claim_due, release
from dockyard.backends.metadata.schema import replication_configurations, replication_tasks
from dockyard.domain.replication import (
    Destination,
    DestinationStatus,
    NewTask,
    ReplicationStatus,
    Task,
)

_T = replication_tasks
_IN_PROGRESS = str(ReplicationStatus.IN_PROGRESS)
_CLAIMED = (
    _T.c.account_id,
    _T.c.repo_id,
    _T.c.repository,
    _T.c.digest,
    _T.c.region,
    _T.c.registry_id,
    _T.c.attempts,
)


class ReplicationMethods:
    """The ReplicationStore port (see ports.py)."""

    _read: Callable[[], AbstractContextManager[Connection]]  # SqlMetadataStore's transactions
    _write: Callable[[], AbstractContextManager[Connection]]

    def get_replication_configuration(self, account_id: str) -> str | None:
        stmt = sa.select(replication_configurations.c.document).where(
            replication_configurations.c.account_id == account_id
        )
        with self._read() as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def put_replication_configuration(
        self, account_id: str, document: str | None, now: float
    ) -> None:
        table = replication_configurations
        with self._write() as conn:
            conn.execute(sa.delete(table).where(table.c.account_id == account_id))
            if document is not None:
                conn.execute(
                    sa.insert(table).values(
                        account_id=account_id, document=document, updated_at=now
                    )
                )

    def queue_replications(self, tasks: Sequence[NewTask], now: float) -> None:
        if not tasks:
            return
        with self._write() as conn:
            for task in tasks:
                conn.execute(sa.delete(_T).where(_same_copy(task)))
            conn.execute(sa.insert(_T), [_row(task, now) for task in tasks])

    def claim_replications(
        self, worker: str, now: float, lease_seconds: float, limit: int
    ) -> list[Task]:
        with self._write() as conn:
            rows = claim_due(
                conn, _T, _T.c.status == _IN_PROGRESS, _CLAIMED, worker, now, lease_seconds, limit
            )
        return [
            Task(
                row.id,
                row.account_id,
                row.repo_id,
                row.repository,
                row.digest,
                Destination(row.region, row.registry_id),
                row.attempts,
            )
            for row in rows
        ]

    def end_replication(
        self, task_id: int, status: ReplicationStatus, failure: str | None, now: float
    ) -> None:
        with self._write() as conn:
            release(conn, _T, task_id, status=str(status), failure=_short(failure), updated_at=now)

    def retry_replication(
        self, task_id: int, next_attempt_at: float, error: str, now: float
    ) -> None:
        with self._write() as conn:
            release(
                conn,
                _T,
                task_id,
                next_attempt_at=next_attempt_at,
                failure=_short(error),
                updated_at=now,
            )

    def replication_statuses(self, repo_id: int, digest: str) -> list[DestinationStatus]:
        stmt = (
            sa.select(_T.c.region, _T.c.registry_id, _T.c.status, _T.c.failure)
            .where(_T.c.repo_id == repo_id, _T.c.digest == digest)
            .order_by(_T.c.region, _T.c.registry_id)
        )
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return [
            DestinationStatus(
                Destination(row.region, row.registry_id), ReplicationStatus(row.status), row.failure
            )
            for row in rows
        ]


def delete_repository_rows(conn: Connection, repo_id: int) -> None:
    """A deleted repository's copies: those not done yet are moot, the statuses unreachable."""
    conn.execute(sa.delete(_T).where(_T.c.repo_id == repo_id))


def _same_copy(task: NewTask) -> sa.ColumnElement[bool]:
    return (
        (_T.c.repo_id == task.repo_id)
        & (_T.c.digest == task.digest)
        & (_T.c.region == task.destination.region)
        & (_T.c.registry_id == task.destination.registry_id)
    )


def _row(task: NewTask, now: float) -> dict[str, object]:
    return {
        "account_id": task.account_id,
        "repo_id": task.repo_id,
        "repository": task.repository,
        "digest": task.digest,
        "region": task.destination.region,
        "registry_id": task.destination.registry_id,
        "status": _IN_PROGRESS,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def _short(text: str | None) -> str | None:
    return None if text is None else text[:2000]
