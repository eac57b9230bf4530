"""Lifecycle policies, previews and restores from archive (the LifecycleStore port).

    lifecycle_policies (repo_id, text, last_evaluated_at, claimed_by, claimed_until)
    lifecycle_previews (repo_id, text, status, claimed_by, claimed_until, results JSON)
    image_activations  (repo_id, digest, due_at)       ACTIVATING images and when they are ACTIVE

Runs and previews are claimed like jobs (_scans.py): candidate rows are locked FOR UPDATE SKIP
LOCKED on PostgreSQL (SQLite's IMMEDIATE write transaction serialises claimers) and the UPDATE
repeats the "lease free" condition, so two processes never both hold one repository's lease.

`lifecycle_facts` loads a repository for the evaluator in three queries (images, tags, index
children), never one per image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata import _images
from dockyard.backends.metadata.dialects import insert_ignore, upsert
from dockyard.backends.metadata.schema import (
    REF_BLOB,
    REF_MANIFEST,
    image_activations,
    image_refs,
    image_scans,
    images,
    lifecycle_policies,
    lifecycle_previews,
    repositories,
    tags,
)
from dockyard.domain.lifecycle import ImageFacts
from dockyard.domain.models import Image, LifecyclePolicyRecord, LifecyclePreviewRecord

_pol, _pre, _act = lifecycle_policies, lifecycle_previews, image_activations
_FACT_COLUMNS = (
    images.c.id,
    images.c.digest,
    images.c.pushed_at,
    images.c.status,
    images.c.last_pulled_at,
    images.c.archived_at,
    images.c.activated_at,
    images.c.subject_digest,
)


def _policy(row: Any) -> LifecyclePolicyRecord:
    mapping = row._mapping
    return LifecyclePolicyRecord(
        row.repo_id,
        row.text,
        row.last_evaluated_at,
        mapping.get("account_id", ""),
        mapping.get("name", ""),
    )


def _preview(row: Any) -> LifecyclePreviewRecord:
    return LifecyclePreviewRecord(row.repo_id, row.text, row.status, row.started_at, row.results)


def _free(table: sa.Table, now: float) -> sa.ColumnElement[bool]:
    return table.c.claimed_until.is_(None) | (table.c.claimed_until < now)


def lifecycle_facts(conn: Connection, repo_id: int) -> list[ImageFacts]:
    rows = conn.execute(sa.select(*_FACT_COLUMNS).where(images.c.repo_id == repo_id)).all()
    tag_rows = conn.execute(
        sa.select(tags.c.image_id, tags.c.name).where(tags.c.repo_id == repo_id)
    ).all()
    child_rows = conn.execute(
        sa.select(images.c.digest, image_refs.c.digest)
        .join(image_refs, image_refs.c.image_id == images.c.id)
        .where(images.c.repo_id == repo_id, image_refs.c.kind == REF_MANIFEST)
    ).all()
    tag_map: dict[int, list[str]] = {}
    for image_id, name in tag_rows:
        tag_map.setdefault(image_id, []).append(name)
    # Finished tuples up front: the loop below runs once per image (100,000 at a time).
    tags_of = {image_id: tuple(sorted(names)) for image_id, names in tag_map.items()}
    listing: dict[str, list[str]] = {}
    for parent, child in child_rows:
        listing.setdefault(child, []).append(parent)
    parents = {child: tuple(found) for child, found in listing.items()}
    tags_get, parents_get = tags_of.get, parents.get
    return [
        ImageFacts(
            image_id,
            digest,
            tags_get(image_id, ()),
            pushed,
            status,
            pulled,
            archived,
            activated,
            subject,
            parents_get(digest, ()),
        )
        for image_id, digest, pushed, status, pulled, archived, activated, subject in rows
    ]


CHUNK = 500  # ids per IN (...), well below every engine's bound-parameter limit


def expire_images(conn: Connection, repo_id: int, image_ids: Sequence[int]) -> int:
    gone = 0
    for start in range(0, len(image_ids), CHUNK):
        ids = list(image_ids[start : start + CHUNK])
        # Children first: on PostgreSQL the foreign keys would reject the image rows going first.
        for table in (image_scans, image_refs, tags):
            conn.execute(sa.delete(table).where(table.c.image_id.in_(ids)))
        gone += conn.execute(
            sa.delete(images).where(images.c.repo_id == repo_id, images.c.id.in_(ids))
        ).rowcount
    return gone


def archive_images(conn: Connection, repo_id: int, image_ids: Sequence[int], now: float) -> int:
    changed = 0
    for start in range(0, len(image_ids), CHUNK):
        ids = list(image_ids[start : start + CHUNK])
        changed += conn.execute(
            sa.update(images)
            .where(images.c.repo_id == repo_id, images.c.id.in_(ids), images.c.status == "ACTIVE")
            .values(status="ARCHIVED", archived_at=now)
        ).rowcount
    return changed


def claim_runs(
    conn: Connection,
    worker: str,
    now: float,
    due_before: float,
    lease: float,
    limit: int,
    after: int,
) -> list[LifecyclePolicyRecord]:
    # A new policy counts as evaluated when it was put: its first run comes an interval later.
    since = sa.func.coalesce(_pol.c.last_evaluated_at, _pol.c.updated_at)
    stmt = (
        sa.select(_pol, repositories.c.account_id, repositories.c.name)
        .join(repositories, repositories.c.id == _pol.c.repo_id)
        .where(since < due_before, _free(_pol, now), _pol.c.repo_id > after)
        .order_by(_pol.c.repo_id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=_pol)
    )
    rows = conn.execute(stmt).all()
    if rows:
        claim = {"claimed_by": worker, "claimed_until": now + lease}
        ids = [row.repo_id for row in rows]
        conn.execute(sa.update(_pol).where(_pol.c.repo_id.in_(ids), _free(_pol, now)).values(claim))
    return [_policy(row) for row in rows]


def start_preview(
    conn: Connection, repo_id: int, text: str, worker: str, now: float, lease: float
) -> bool:
    row = {
        "repo_id": repo_id,
        "text": text,
        "status": "IN_PROGRESS",
        "started_at": now,
        "claimed_by": worker,
        "claimed_until": now + lease,
        "results": None,
    }
    # Insert-if-absent first: concurrent first previews conflict on the key, and the losers
    # wait for the winner and then see its row below (a lock on no row would not stop them).
    inserted = insert_ignore(conn, _pre, ["repo_id"]).values(row).returning(_pre.c.repo_id)
    if conn.execute(inserted).first() is not None:
        return True
    current = conn.execute(sa.select(_pre).where(_pre.c.repo_id == repo_id).with_for_update()).one()
    if current.status == "IN_PROGRESS" and (current.claimed_until or 0) >= now:
        return False
    conn.execute(sa.update(_pre).where(_pre.c.repo_id == repo_id).values(row))
    return True


def claim_stale_previews(
    conn: Connection, worker: str, now: float, lease: float
) -> list[LifecyclePreviewRecord]:
    stale = (_pre.c.status == "IN_PROGRESS") & (_pre.c.claimed_until < now)
    rows = conn.execute(sa.select(_pre).where(stale).with_for_update(skip_locked=True)).all()
    if rows:
        conn.execute(
            sa.update(_pre)
            .where(_pre.c.repo_id.in_([r.repo_id for r in rows]), stale)
            .values(claimed_by=worker, claimed_until=now + lease)
        )
    return [_preview(row) for row in rows]


def request_activation(
    conn: Connection, repo_id: int, digest: str, now: float, due_at: float
) -> Image | None:
    where = (images.c.repo_id == repo_id) & (images.c.digest == digest)
    changed = conn.execute(
        sa.update(images)
        .where(where, images.c.status == "ARCHIVED")
        .values(status="ACTIVATING", activated_at=now)
    ).rowcount
    if changed:
        row = {"repo_id": repo_id, "digest": digest, "due_at": due_at}
        conn.execute(upsert(conn, _act, ["repo_id", "digest"], ["due_at"]), row)
    found = _images.load_images(conn, where, with_manifest=False)
    return found[0] if found else None


def finish_activations(conn: Connection, now: float) -> int:
    due = conn.execute(
        sa.select(_act.c.repo_id, _act.c.digest, _act.c.due_at)
        .where(_act.c.due_at <= now)
        .with_for_update(skip_locked=True)
    ).all()
    promoted = 0
    # lastActivatedAt is when the restore completed: its due time, even if promoted later.
    for repo_id, digest, due_at in due:
        where = (
            (images.c.repo_id == repo_id)
            & (images.c.digest == digest)
            & (images.c.status == "ACTIVATING")
        )
        promoted += conn.execute(
            sa.update(images).where(where).values(status="ACTIVE", activated_at=due_at)
        ).rowcount
        conn.execute(sa.delete(_act).where(_act.c.repo_id == repo_id, _act.c.digest == digest))
    return promoted


def archived_only_blobs(conn: Connection, repo_id: int, digests: Sequence[str]) -> set[str]:
    if not digests:
        return set()
    stmt = (
        sa.select(
            image_refs.c.digest, sa.func.max(sa.case((images.c.status == "ACTIVE", 1), else_=0))
        )
        .join(images, images.c.id == image_refs.c.image_id)
        .where(
            images.c.repo_id == repo_id,
            image_refs.c.kind == REF_BLOB,
            image_refs.c.digest.in_(list(digests)),
        )
        .group_by(image_refs.c.digest)
    )
    return {digest for digest, active in conn.execute(stmt) if not active}


class LifecycleMethods:
    """The LifecycleStore port (see ports.py), mixed into SqlMetadataStore."""

    _read: Callable[[], AbstractContextManager[Connection]]  # SqlMetadataStore's transactions
    _write: Callable[[], AbstractContextManager[Connection]]

    def get_lifecycle_policy(self, repo_id: int) -> LifecyclePolicyRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(_pol).where(_pol.c.repo_id == repo_id)).first()
        return None if row is None else _policy(row)

    def put_lifecycle_policy(self, repo_id: int, text: str, now: float) -> None:
        row = {"repo_id": repo_id, "text": text, "updated_at": now}
        with self._write() as conn:
            conn.execute(upsert(conn, _pol, ["repo_id"], ["text", "updated_at"]), row)

    def delete_lifecycle_policy(self, repo_id: int) -> LifecyclePolicyRecord | None:
        with self._write() as conn:
            row = conn.execute(sa.select(_pol).where(_pol.c.repo_id == repo_id)).first()
            conn.execute(sa.delete(_pol).where(_pol.c.repo_id == repo_id))
        return None if row is None else _policy(row)

    def lifecycle_facts(self, repo_id: int) -> list[ImageFacts]:
        with self._read() as conn:
            return lifecycle_facts(conn, repo_id)

    def expire_images(self, repo_id: int, image_ids: Sequence[int]) -> int:
        with self._write() as conn:
            return expire_images(conn, repo_id, image_ids)

    def archive_images(self, repo_id: int, image_ids: Sequence[int], now: float) -> int:
        with self._write() as conn:
            return archive_images(conn, repo_id, image_ids, now)

    def claim_lifecycle_runs(
        self,
        worker: str,
        now: float,
        due_before: float,
        lease_seconds: float,
        limit: int,
        after: int = 0,
    ) -> list[LifecyclePolicyRecord]:
        with self._write() as conn:
            return claim_runs(conn, worker, now, due_before, lease_seconds, limit, after)

    def finish_lifecycle_run(self, repo_id: int, worker: str, evaluated_at: float) -> None:
        mine = (_pol.c.repo_id == repo_id) & (_pol.c.claimed_by == worker)
        with self._write() as conn:
            conn.execute(
                sa.update(_pol)
                .where(mine)
                .values(last_evaluated_at=evaluated_at, claimed_by=None, claimed_until=None)
            )

    def start_lifecycle_preview(
        self, repo_id: int, text: str, worker: str, now: float, lease_seconds: float
    ) -> bool:
        with self._write() as conn:
            return start_preview(conn, repo_id, text, worker, now, lease_seconds)

    def claim_stale_previews(
        self, worker: str, now: float, lease_seconds: float
    ) -> list[LifecyclePreviewRecord]:
        # Polled every second by every server: look before taking a write transaction.
        with self._read() as conn:
            if (
                conn.execute(
                    sa.select(_pre.c.repo_id)
                    .where(_pre.c.status == "IN_PROGRESS", _pre.c.claimed_until < now)
                    .limit(1)
                ).first()
                is None
            ):
                return []
        with self._write() as conn:
            return claim_stale_previews(conn, worker, now, lease_seconds)

    def finish_lifecycle_preview(
        self, repo_id: int, worker: str, status: str, results: str | None
    ) -> None:
        mine = (_pre.c.repo_id == repo_id) & (_pre.c.claimed_by == worker)
        with self._write() as conn:
            conn.execute(
                sa.update(_pre)
                .where(mine)
                .values(status=status, results=results, claimed_by=None, claimed_until=None)
            )

    def get_lifecycle_preview(self, repo_id: int) -> LifecyclePreviewRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(_pre).where(_pre.c.repo_id == repo_id)).first()
        return None if row is None else _preview(row)

    def request_activation(
        self, repo_id: int, digest: str, now: float, due_at: float
    ) -> Image | None:
        with self._write() as conn:
            return request_activation(conn, repo_id, digest, now, due_at)

    def finish_activations(self, now: float) -> int:
        with self._read() as conn:  # polled every second: look before taking a write
            if (
                conn.execute(sa.select(_act.c.repo_id).where(_act.c.due_at <= now).limit(1)).first()
                is None
            ):
                return 0
        with self._write() as conn:
            return finish_activations(conn, now)

    def archived_only_blobs(self, repo_id: int, digests: Sequence[str]) -> set[str]:
        with self._read() as conn:
            return archived_only_blobs(conn, repo_id, digests)


def delete_repository_rows(conn: Connection, repo_id: int) -> None:
    for table in (_pol, _pre, _act):
        conn.execute(sa.delete(table).where(table.c.repo_id == repo_id))
