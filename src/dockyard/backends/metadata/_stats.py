"""Operational statistics for metrics (the OperationalStats port), mixed into SqlMetadataStore."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dockyard.backends.metadata.schema import jobs


class StatsMethods:
    engine: Engine
    _read: Callable[[], AbstractContextManager[Connection]]

    def pending_jobs(self, kind: str) -> int:
        stmt = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.kind == kind)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def pool_status(self) -> tuple[int, int]:
        # Not every pool counts (SQLite's may be a NullPool or StaticPool): those report 0.
        pool = self.engine.pool
        checked_out = getattr(pool, "checkedout", None)
        size = getattr(pool, "size", None)
        return (checked_out() if callable(checked_out) else 0, size() if callable(size) else 0)
