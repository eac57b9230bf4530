"""Scan results, cached inventories and the job queue (the ScanStore port).

A job is claimed by setting claimed_by/claimed_at inside a write transaction; on PostgreSQL the
candidate row is locked with FOR UPDATE SKIP LOCKED so concurrent workers take different jobs,
on SQLite the IMMEDIATE write transaction serialises claimers. A claim whose lease ran out (the
worker died) can be taken again, at most MAX_ATTEMPTS times.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata import dialects
from dockyard.backends.metadata.schema import image_scans, images, inventories, jobs
from dockyard.domain.models import Job, ScanRecord

MAX_ATTEMPTS = 3


def _record(row: sa.Row) -> ScanRecord:
    return ScanRecord(
        image_id=row.image_id, scan_type=row.scan_type, status=row.status,
        description=row.description, started_at=row.started_at, completed_at=row.completed_at,
        source_updated_at=row.source_updated_at,
        severity_counts=json.loads(row.severity_counts), findings_json=row.findings,
    )  # fmt: skip


def get_scan(conn: Connection, image_id: int) -> ScanRecord | None:
    row = conn.execute(sa.select(image_scans).where(image_scans.c.image_id == image_id)).first()
    return _record(row) if row else None


def scans_for(conn: Connection, image_ids: Sequence[int]) -> dict[int, ScanRecord]:
    if not image_ids:
        return {}
    # The summary only: findings stay in the database for DescribeImages pages.
    columns = [c for c in image_scans.c if c.name != "findings"]
    stmt = sa.select(*columns, sa.literal("[]").label("findings"))
    rows = conn.execute(stmt.where(image_scans.c.image_id.in_(list(image_ids))))
    return {row.image_id: _record(row) for row in rows}


def put_scan(conn: Connection, record: ScanRecord) -> None:
    if conn.execute(sa.select(images.c.id).where(images.c.id == record.image_id)).first() is None:
        return  # the image was deleted while it was being scanned
    values = {
        "image_id": record.image_id, "scan_type": record.scan_type, "status": record.status,
        "description": record.description, "started_at": record.started_at,
        "completed_at": record.completed_at, "source_updated_at": record.source_updated_at,
        "severity_counts": json.dumps(record.severity_counts), "findings": record.findings_json,
    }  # fmt: skip
    update = [name for name in values if name != "image_id"]
    conn.execute(dialects.upsert(conn, image_scans, ["image_id"], update).values(values))


def scanned_images(
    conn: Connection, scan_type: str, after: int, limit: int
) -> list[tuple[int, int, str]]:
    stmt = (
        sa.select(images.c.id, images.c.repo_id, images.c.digest)
        .join(image_scans, image_scans.c.image_id == images.c.id)
        .where(image_scans.c.scan_type == scan_type, images.c.id > after)
        .order_by(images.c.id)
        .limit(limit)
    )
    return [(row.id, row.repo_id, row.digest) for row in conn.execute(stmt)]


def get_inventory(conn: Connection, digest: str) -> str | None:
    stmt = sa.select(inventories.c.inventory).where(inventories.c.digest == digest)
    return conn.execute(stmt).scalar()


def put_inventory(conn: Connection, digest: str, inventory_json: str) -> None:
    row = {"digest": digest, "inventory": inventory_json}
    conn.execute(dialects.insert_ignore(conn, inventories, ["digest"]).values(row))


def enqueue_job(conn: Connection, kind: str, payload: str, now: float) -> int:
    stmt = sa.insert(jobs).values(kind=kind, payload=payload, created_at=now)
    return conn.execute(stmt.returning(jobs.c.id)).scalar_one()


def claim_job(conn: Connection, worker: str, now: float, lease: float) -> Job | None:
    free = jobs.c.claimed_at.is_(None) | (jobs.c.claimed_at < now - lease)
    stmt = (
        sa.select(jobs).where(free, jobs.c.attempts < MAX_ATTEMPTS).order_by(jobs.c.id).limit(1)
        .with_for_update(skip_locked=True)
    )  # fmt: skip
    row = conn.execute(stmt).first()
    if row is None:
        return None
    claim = {"claimed_by": worker, "claimed_at": now, "attempts": row.attempts + 1}
    conn.execute(sa.update(jobs).where(jobs.c.id == row.id).values(claim))
    return Job(row.id, row.kind, row.payload, row.attempts + 1)


def finish_job(conn: Connection, job_id: int) -> None:
    conn.execute(sa.delete(jobs).where(jobs.c.id == job_id))


def delete_scans(conn: Connection, image_ids: sa.Select | Sequence[int]) -> None:
    conn.execute(sa.delete(image_scans).where(image_scans.c.image_id.in_(image_ids)))


class ScanMethods:
    """The ScanStore port (see py), mixed into SqlMetadataStore."""

    def get_scan(self, image_id: int) -> ScanRecord | None:
        with self._read() as conn:
            return get_scan(conn, image_id)

    def scans_for(self, image_ids: Sequence[int]) -> dict[int, ScanRecord]:
        with self._read() as conn:
            return scans_for(conn, image_ids)

    def put_scan(self, record: ScanRecord) -> None:
        with self._write() as conn:
            put_scan(conn, record)

    def scanned_images(self, scan_type: str, after: int, limit: int) -> list[tuple[int, int, str]]:
        with self._read() as conn:
            return scanned_images(conn, scan_type, after, limit)

    def get_inventory(self, digest: str) -> str | None:
        with self._read() as conn:
            return get_inventory(conn, digest)

    def put_inventory(self, digest: str, inventory_json: str) -> None:
        with self._write() as conn:
            put_inventory(conn, digest, inventory_json)

    def enqueue_job(self, kind: str, payload: str, now: float) -> int:
        with self._write() as conn:
            return enqueue_job(conn, kind, payload, now)

    def claim_job(self, worker: str, now: float, lease_seconds: float) -> Job | None:
        with self._write() as conn:
            return claim_job(conn, worker, now, lease_seconds)

    def finish_job(self, job_id: int) -> None:
        with self._write() as conn:
            finish_job(conn, job_id)
