"""Image, tag and reference queries; each function runs inside the caller's transaction.

`save_image` is the one multi-step write. It stays correct under concurrency on both engines:

- the image row is inserted with ON CONFLICT DO NOTHING on (repo_id, digest), so two pushes of the
  same digest both succeed and only the one that inserted the row writes its image_refs;
- the tag is first claimed the same way; if it already exists, its row is locked (FOR UPDATE on
  PostgreSQL; SQLite writers already hold the database lock from BEGIN IMMEDIATE) before it is
  compared and moved, so concurrent pushes of one tag serialise and each sees the last winner.

Raising TagImmutable inside the transaction rolls back the image inserted just before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata import _rows
from dockyard.backends.metadata.dialects import insert_ignore
from dockyard.backends.metadata.schema import (
    image_scans,
    REF_BLOB,
    REF_MANIFEST,
    image_refs,
    images,
    repositories,
    tags,
)
from dockyard.domain.errors import TagImmutable
from dockyard.domain.models import Image, NewImage, SavedImage


def save_image(
    conn: Connection, repo_id: int, new: NewImage, tag: str | None, may_move_tag: bool, now: float
) -> SavedImage:
    image_id, created = _insert_image(conn, repo_id, new, now)
    untagged = None
    if tag is not None:
        untagged = _point_tag(conn, repo_id, tag, image_id, may_move_tag, now)
    image = load_images(conn, images.c.id == image_id, with_manifest=False)[0]
    # The caller already holds the manifest bytes; hand them back without reading them again.
    return SavedImage(replace(image, manifest=new.manifest), created, untagged)


def _insert_image(conn: Connection, repo_id: int, new: NewImage, now: float) -> tuple[int, bool]:
    """Insert the image unless its digest is already in the repository: (image id, created)."""
    stmt = insert_ignore(conn, images, ["repo_id", "digest"])
    inserted = conn.execute(
        stmt.values(_rows.new_image_row(repo_id, new, now)).returning(images.c.id)
    ).scalar()
    if inserted is None:
        return _image_id(conn, repo_id, new.digest), False
    _insert_refs(conn, inserted, new)
    return inserted, True


def _image_id(conn: Connection, repo_id: int, digest: str) -> int:
    where = (images.c.repo_id == repo_id) & (images.c.digest == digest)
    return conn.execute(sa.select(images.c.id).where(where)).scalar_one()


def _insert_refs(conn: Connection, image_id: int, new: NewImage) -> None:
    # dict.fromkeys: a manifest may list the same layer twice; the table keeps one row each.
    refs = [(d, REF_MANIFEST) for d in dict.fromkeys(new.child_digests)]
    refs += [(d, REF_BLOB) for d in dict.fromkeys(new.blob_digests)]
    if refs:
        rows = [{"image_id": image_id, "digest": d, "kind": k} for d, k in refs]
        conn.execute(sa.insert(image_refs), rows)


def _point_tag(
    conn: Connection, repo_id: int, tag: str, image_id: int, may_move: bool, now: float
) -> int | None:
    """Point `tag` at the image; return the previous image's id if that left it untagged."""
    row = {"repo_id": repo_id, "name": tag, "image_id": image_id, "updated_at": now}
    current = _claim_or_lock(conn, row)
    if current is None or current == image_id:
        return None
    if not may_move:
        raise TagImmutable(_immutable_message(conn, repo_id, tag), tag=tag)
    where = (tags.c.repo_id == repo_id) & (tags.c.name == tag)
    conn.execute(sa.update(tags).where(where).values(image_id=image_id, updated_at=now))
    return None if _has_tags(conn, current) else current


def _claim_or_lock(conn: Connection, row: dict[str, Any]) -> int | None:
    """Insert the tag row (None), or lock the existing one and return the image it points at."""
    # RETURNING rather than rowcount: some drivers report -1 for INSERT ... ON CONFLICT.
    claim = insert_ignore(conn, tags, ["repo_id", "name"]).values(row).returning(tags.c.image_id)
    where = (tags.c.repo_id == row["repo_id"]) & (tags.c.name == row["name"])
    lock = sa.select(tags.c.image_id).where(where).with_for_update()
    while True:  # a concurrent delete_tag may remove the row between the two statements
        if conn.execute(claim).first() is not None:
            return None
        current = conn.execute(lock).scalar()
        if current is not None:
            return current


def _has_tags(conn: Connection, image_id: int) -> bool:
    stmt = sa.select(tags.c.name).where(tags.c.image_id == image_id).limit(1)
    return conn.execute(stmt).first() is not None


def _immutable_message(conn: Connection, repo_id: int, tag: str) -> str:
    name = conn.execute(
        sa.select(repositories.c.name).where(repositories.c.id == repo_id)
    ).scalar_one()
    return (
        f"The image tag '{tag}' already exists in the '{name}' repository and cannot be "
        "overwritten because the repository is immutable."
    )


def load_images(
    conn: Connection,
    where: sa.ColumnElement[bool],
    with_manifest: bool,
    order_by: Sequence[sa.ColumnElement[Any]] = (),
) -> list[Image]:
    """Images matching `where`, each with its tags, in two queries whatever the count."""
    stmt = sa.select(*_rows.image_columns(with_manifest)).where(where).order_by(*order_by)
    return images_with_tags(conn, conn.execute(stmt).mappings().all())


def images_with_tags(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Image]:
    """An image per row of image columns, with its (sorted) tags, fetched in one query."""
    tag_map = tags_by_image(conn, dict.fromkeys(row["id"] for row in rows))
    return [_rows.to_image(row, tag_map.get(row["id"], ())) for row in rows]


def tags_by_image(conn: Connection, image_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    """Sorted tag names per image id, in one query."""
    ids = list(image_ids)
    if not ids:
        return {}
    stmt = (
        sa.select(tags.c.image_id, tags.c.name)
        .where(tags.c.image_id.in_(ids))
        .order_by(tags.c.image_id, tags.c.name)
    )
    found: dict[int, list[str]] = {}
    for image_id, name in conn.execute(stmt):
        found.setdefault(image_id, []).append(name)
    return {image_id: tuple(names) for image_id, names in found.items()}


def parents_of(conn: Connection, repo_id: int, digest: str) -> list[str]:
    stmt = (
        sa.select(images.c.digest)
        .join(image_refs, image_refs.c.image_id == images.c.id)
        .where(image_refs.c.digest == digest, image_refs.c.kind == REF_MANIFEST)
        .where(images.c.repo_id == repo_id)
        .order_by(images.c.pushed_at, images.c.id)
    )
    return list(conn.execute(stmt).scalars())


def blob_referenced(conn: Connection, repo_id: int, digest: str) -> bool:
    stmt = sa.select(
        sa.exists()
        .where(image_refs.c.digest == digest, image_refs.c.kind == REF_BLOB)
        .where(image_refs.c.image_id == images.c.id, images.c.repo_id == repo_id)
    )
    return bool(conn.execute(stmt).scalar_one())


def delete_image(conn: Connection, repo_id: int, digest: str) -> bool:
    where = (images.c.repo_id == repo_id) & (images.c.digest == digest)
    image_id = conn.execute(sa.select(images.c.id).where(where)).scalar()
    if image_id is None:
        return False
    # Children first: on PostgreSQL the foreign keys would reject the image row going first.
    conn.execute(sa.delete(image_scans).where(image_scans.c.image_id == image_id))
    conn.execute(sa.delete(image_refs).where(image_refs.c.image_id == image_id))
    conn.execute(sa.delete(tags).where(tags.c.image_id == image_id))
    conn.execute(sa.delete(images).where(images.c.id == image_id))
    return True


def record_pulls(conn: Connection, pulls: dict[int, float]) -> None:
    # One executemany; the WHERE keeps a later pull that was recorded first from being undone,
    # and sorting by id makes concurrent batches lock rows in the same order (no deadlock).
    stmt = (
        sa.update(images)
        .where(images.c.id == sa.bindparam("b_id"))
        .where(images.c.last_pulled_at.is_(None) | (images.c.last_pulled_at < sa.bindparam("b_at")))
        .values(last_pulled_at=sa.bindparam("b_at"))
    )
    conn.execute(stmt, [{"b_id": image_id, "b_at": at} for image_id, at in sorted(pulls.items())])
