"""Scan results, cached inventories and the job queue (the ScanStore port).

A scan's findings are stored as documents shared by every scan that reports them:

    image_scans.finding_keys ["k1","k2",...] ──> finding_documents (key, document, used_at)
    get_scan joins the documents back: "[" + ", ".join(documents) + "]", the text json.dumps
    gives for the list, so a reader sees one JSON array as before

A scan names its documents by key and passes the text of those its writer has not stored lately
(see ScanStore.put_scan), so a rescan writes each shared document once, not once per image.
Passed documents are inserted if missing, and their used_at is refreshed when older than
TOUCH_AFTER. A document nothing references any more stays until `delete_unused_findings`
sweeps it; the sweep deletes only documents unused since `before`, rechecked in the DELETE
itself, so a writer that stored or refreshed a document within the port's reuse window can keep
naming it without passing it again, on either engine, without locking the table.

A job is claimed by setting claimed_by/claimed_at inside a write transaction; on PostgreSQL the
candidate row is locked with FOR UPDATE SKIP LOCKED so concurrent workers take different jobs,
on SQLite the IMMEDIATE write transaction serialises claimers. A claim whose lease ran out (the
worker died) can be taken again, at most MAX_ATTEMPTS times.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata import dialects
from dockyard.backends.metadata.schema import (
    finding_documents,
    image_scans,
    images,
    inventories,
    jobs,
)
from dockyard.domain.models import Job, ScanRecord

MAX_ATTEMPTS = 3
TOUCH_AFTER = 3600.0  # seconds: how stale used_at may get before a scan refreshes it
CHUNK = 500  # keys per IN (...), well below every engine's bound-parameter limit
_docs = finding_documents
# Built once: a scan runs these per write, and coercing 500 keys a call cost more than the query.
_KEYS: sa.BindParameter[str] = sa.bindparam("keys", expanding=True)
_DOCUMENTS_OF = sa.select(_docs.c.key, _docs.c.document).where(_docs.c.key.in_(_KEYS))
_USED_AT_OF = sa.select(_docs.c.key, _docs.c.used_at).where(_docs.c.key.in_(_KEYS))
_SCAN_COLUMNS = [c.name for c in image_scans.c if c.name != "image_id"]
_IMAGE_EXISTS = sa.select(images.c.id).where(images.c.id == sa.bindparam("image_id"))
_UPSERTS: dict[str, sa.Insert] = {}


def _record(row: sa.Row, findings_json: str = "[]") -> ScanRecord:
    return ScanRecord(
        image_id=row.image_id, scan_type=row.scan_type, status=row.status,
        description=row.description, started_at=row.started_at, completed_at=row.completed_at,
        source_updated_at=row.source_updated_at,
        severity_counts=json.loads(row.severity_counts), findings_json=findings_json,
    )  # fmt: skip


def _chunks(keys: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start : start + CHUNK]


def get_scan(conn: Connection, image_id: int) -> ScanRecord | None:
    row = conn.execute(sa.select(image_scans).where(image_scans.c.image_id == image_id)).first()
    return _record(row, _findings_json(conn, json.loads(row.finding_keys))) if row else None


def _findings_json(conn: Connection, keys: list[str]) -> str:
    documents: dict[str, str] = {}
    for chunk in _chunks(sorted(set(keys))):
        documents.update(conn.execute(_DOCUMENTS_OF, {"keys": chunk}).all())
    # json.dumps of a list joins its items with ", ": the text the scan's findings had.
    return "[" + ", ".join(documents[key] for key in keys) + "]"


def scans_for(conn: Connection, image_ids: Sequence[int]) -> dict[int, ScanRecord]:
    if not image_ids:
        return {}
    # The summary only: findings stay in the database for DescribeImages pages.
    columns = [c for c in image_scans.c if c.name != "finding_keys"]
    rows = conn.execute(sa.select(*columns).where(image_scans.c.image_id.in_(list(image_ids))))
    return {row.image_id: _record(row) for row in rows}


def put_scan(
    conn: Connection,
    record: ScanRecord,
    keys: Sequence[str] = (),
    documents: Mapping[str, str] | None = None,
) -> None:
    now = record.completed_at if record.completed_at is not None else record.started_at
    # Stored even when the scan is dropped: the caller counts on them from now on.
    _store_documents(conn, documents or {}, now)
    if conn.execute(_IMAGE_EXISTS, {"image_id": record.image_id}).first() is None:
        return  # the image was deleted while it was being scanned
    values = {
        "image_id": record.image_id, "scan_type": record.scan_type, "status": record.status,
        "description": record.description, "started_at": record.started_at,
        "completed_at": record.completed_at, "source_updated_at": record.source_updated_at,
        "severity_counts": json.dumps(record.severity_counts),
        "finding_keys": json.dumps(list(keys), separators=(",", ":")),
    }  # fmt: skip
    conn.execute(_upsert(conn), values)


def _upsert(conn: Connection) -> sa.Insert:
    name = conn.dialect.name
    if name not in _UPSERTS:
        _UPSERTS[name] = dialects.upsert(conn, image_scans, ["image_id"], _SCAN_COLUMNS)
    return _UPSERTS[name]


def _store_documents(conn: Connection, documents: Mapping[str, str], now: float) -> None:
    """Make every document exist with a used_at no older than TOUCH_AFTER (see the docstring).

    Often the documents are there already (another image reported them), so this reads their
    keys and writes nothing. Sorted keys make concurrent writers lock in one order.
    """
    keys = sorted(documents)
    used: dict[str, float] = {}
    for chunk in _chunks(keys):
        used.update(conn.execute(_USED_AT_OF, {"keys": chunk}).all())
    stale = [key for key in keys if key in used and used[key] < now - TOUCH_AFTER]
    for chunk in _chunks(stale):
        where = _docs.c.key.in_(chunk) & (_docs.c.used_at < now)
        conn.execute(sa.update(_docs).where(where).values(used_at=now))
    # A stale document may have been swept between the read and the update: insert it again.
    todo = [key for key in keys if key not in used or key in stale]
    if todo:
        rows = [{"key": key, "document": documents[key], "used_at": now} for key in todo]
        conn.execute(dialects.insert_ignore(conn, _docs, ["key"]), rows)


def unused_findings(conn: Connection, before: float) -> list[str]:
    """Keys of documents no scan references and unused since `before`."""
    old = set(conn.execute(sa.select(_docs.c.key).where(_docs.c.used_at < before)).scalars())
    if old:  # else spare reading every scan's keys (the sweep runs often, finds little)
        for keys in conn.execute(sa.select(image_scans.c.finding_keys)).scalars():
            old.difference_update(json.loads(keys))
    return sorted(old)


def delete_findings(conn: Connection, keys: Sequence[str], before: float) -> int:
    deleted = 0
    for chunk in _chunks(keys):
        # used_at is checked again: a scan written since `unused_findings` refreshed it.
        where = _docs.c.key.in_(chunk) & (_docs.c.used_at < before)
        deleted += conn.execute(sa.delete(_docs).where(where)).rowcount
    return deleted


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


def enqueue_jobs(conn: Connection, kind: str, payloads: Sequence[str], now: float) -> None:
    if payloads:
        rows = [{"kind": kind, "payload": payload, "created_at": now} for payload in payloads]
        conn.execute(sa.insert(jobs), rows)


def claim_jobs(conn: Connection, worker: str, now: float, lease: float, limit: int) -> list[Job]:
    free = jobs.c.claimed_at.is_(None) | (jobs.c.claimed_at < now - lease)
    stmt = (
        sa.select(jobs).where(free, jobs.c.attempts < MAX_ATTEMPTS).order_by(jobs.c.id)
        .limit(limit).with_for_update(skip_locked=True)
    )  # fmt: skip
    rows = conn.execute(stmt).all()
    if rows:
        claim = {"claimed_by": worker, "claimed_at": now, "attempts": jobs.c.attempts + 1}
        conn.execute(sa.update(jobs).where(jobs.c.id.in_([row.id for row in rows])).values(claim))
    return [Job(row.id, row.kind, row.payload, row.attempts + 1) for row in rows]


def finish_jobs(conn: Connection, job_ids: Sequence[int]) -> None:
    conn.execute(sa.delete(jobs).where(jobs.c.id.in_(list(job_ids))))


def delete_scans(conn: Connection, image_ids: sa.Select | Sequence[int]) -> None:
    conn.execute(sa.delete(image_scans).where(image_scans.c.image_id.in_(image_ids)))


class ScanMethods:
    """The ScanStore port (see py), mixed into SqlMetadataStore."""

    _read: Callable[[], AbstractContextManager[Connection]]  # SqlMetadataStore's transactions
    _write: Callable[[], AbstractContextManager[Connection]]

    def get_scan(self, image_id: int) -> ScanRecord | None:
        with self._read() as conn:
            return get_scan(conn, image_id)

    def scans_for(self, image_ids: Sequence[int]) -> dict[int, ScanRecord]:
        with self._read() as conn:
            return scans_for(conn, image_ids)

    def put_scan(
        self,
        record: ScanRecord,
        keys: Sequence[str] = (),
        documents: Mapping[str, str] | None = None,
    ) -> None:
        with self._write() as conn:
            put_scan(conn, record, keys, documents)

    def delete_unused_findings(self, before: float) -> int:
        # Read, then delete in a short write: the DELETE's own used_at check keeps it safe.
        with self._read() as conn:
            keys = unused_findings(conn, before)
        with self._write() as conn:
            return delete_findings(conn, keys, before)

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

    def enqueue_jobs(self, kind: str, payloads: Sequence[str], now: float) -> None:
        with self._write() as conn:
            enqueue_jobs(conn, kind, payloads, now)

    def claim_jobs(self, worker: str, now: float, lease_seconds: float, limit: int) -> list[Job]:
        with self._write() as conn:
            return claim_jobs(conn, worker, now, lease_seconds, limit)

    def finish_jobs(self, job_ids: Sequence[int]) -> None:
        with self._write() as conn:
            finish_jobs(conn, job_ids)
