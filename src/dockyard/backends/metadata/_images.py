"""Image, tag and reference queries; each function runs inside the caller's transaction.

`save_image` is the one multi-step write. It stays correct under concurrency on both engines:

- the image row is inserted with ON CONFLICT DO NOTHING on (repo_id, digest), so two pushes of the
  same digest both succeed and only the one that inserted the row writes its image_refs;
- the tag is first claimed the same way; if it already exists, its row is locked (FOR UPDATE on
  PostgreSQL; SQLite writers already hold the database lock from BEGIN IMMEDIATE) before it is
  compared and moved, so concurrent pushes of one tag serialise and each sees the last winner.

Raising TagImmutable inside the transaction rolls back the image inserted just before it.

The statements of the push and single-image paths are built once, with bind parameters (the
`_BY_*`, `_CLAIM`... constants): SQLAlchemy memoizes a statement object's cache key, so running a
prebuilt one skips building the expression and keying its compiled form, about half of what a
small statement costs in Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata import _rows
from dockyard.backends.metadata.dialects import insert_ignore, per_dialect
from dockyard.backends.metadata.schema import (
    REF_BLOB,
    REF_MANIFEST,
    image_refs,
    image_scans,
    images,
    repositories,
    tags,
)
from dockyard.domain.errors import TagImmutable
from dockyard.domain.models import Image, NewImage, SavedImage


def _by(*where: sa.ColumnElement[bool]) -> dict[bool, sa.Select[Any]]:
    """The image columns, without and with the manifest, of the image(s) matching `where`."""
    return {m: sa.select(*_rows.image_columns(m)).where(*where) for m in (False, True)}


_REPO: sa.BindParameter[int] = sa.bindparam("b_repo_id")
_DIGEST: sa.BindParameter[str] = sa.bindparam("b_digest")
_BY_DIGEST = _by(images.c.repo_id == _REPO, images.c.digest == _DIGEST)
_BY_ID = _by(images.c.id == sa.bindparam("b_id"))
_BY_TAG = {
    m: stmt.join(tags, tags.c.image_id == images.c.id).where(
        tags.c.repo_id == _REPO, tags.c.name == sa.bindparam("b_tag")
    )
    for m, stmt in _by().items()
}
_ID_BY_DIGEST = sa.select(images.c.id).where(images.c.repo_id == _REPO, images.c.digest == _DIGEST)
_TAGS_OF = (
    sa.select(tags.c.name).where(tags.c.image_id == sa.bindparam("b_id")).order_by(tags.c.name)
)
_INSERT_REFS = sa.insert(image_refs)
_INSERT_IMAGE = per_dialect(
    lambda conn: insert_ignore(conn, images, ["repo_id", "digest"]).returning(images.c.id)
)


def save_image(
    conn: Connection, repo_id: int, new: NewImage, tag: str | None, may_move_tag: bool, now: float
) -> SavedImage:
    row = _rows.new_image_row(repo_id, new, now)
    inserted: int | None = conn.execute(_INSERT_IMAGE(conn), row).scalar()
    if inserted is not None:
        _insert_refs(conn, inserted, new)
    image_id = inserted if inserted is not None else _image_id(conn, repo_id, new.digest)
    untagged = None
    if tag is not None:
        untagged = _point_tag(conn, repo_id, tag, image_id, may_move_tag, now)
    if inserted is not None:
        # Nothing but this transaction can have touched a row it just inserted: the image is what
        # was written, tagged with `tag` alone, and need not be read back.
        written = {**_NEW_ROW_DEFAULTS, **row, "id": inserted}
        image = _rows.to_image(written, (tag,) if tag else ())
    else:
        image = _reload(conn, image_id)
    # The caller already holds the manifest bytes; hand them back without reading them again.
    return SavedImage(replace(image, manifest=new.manifest), inserted is not None, untagged)


# What an images row holds right after its insert, besides new_image_row's columns.
_NEW_ROW_DEFAULTS = {"last_pulled_at": None, "archived_at": None, "activated_at": None}


def _image_id(conn: Connection, repo_id: int, digest: str) -> int:
    found = {"b_repo_id": repo_id, "b_digest": digest}
    return int(conn.execute(_ID_BY_DIGEST, found).scalar_one())


def _reload(conn: Connection, image_id: int) -> Image:
    image = load_one(conn, _BY_ID[False], {"b_id": image_id})
    if image is None:  # its id was read in this very transaction
        raise RuntimeError(f"image {image_id} vanished while it was being saved")
    return image


def _insert_refs(conn: Connection, image_id: int, new: NewImage) -> None:
    # dict.fromkeys: a manifest may list the same layer twice; the table keeps one row each.
    refs = [(d, REF_MANIFEST) for d in dict.fromkeys(new.child_digests)]
    refs += [(d, REF_BLOB) for d in dict.fromkeys(new.blob_digests)]
    if refs:
        rows = [{"image_id": image_id, "digest": d, "kind": k} for d, k in refs]
        conn.execute(_INSERT_REFS, rows)


def image_by_digest(
    conn: Connection, repo_id: int, digest: str, with_manifest: bool
) -> Image | None:
    return load_one(conn, _BY_DIGEST[with_manifest], {"b_repo_id": repo_id, "b_digest": digest})


def image_by_tag(conn: Connection, repo_id: int, tag: str, with_manifest: bool) -> Image | None:
    return load_one(conn, _BY_TAG[with_manifest], {"b_repo_id": repo_id, "b_tag": tag})


def load_one(conn: Connection, stmt: sa.Select[Any], params: dict[str, Any]) -> Image | None:
    """The one image a prebuilt statement selects, with its tags: two small queries."""
    row = conn.execute(stmt, params).first()
    if row is None:
        return None
    names = tuple(name for (name,) in conn.execute(_TAGS_OF, {"b_id": row.id}))
    return _rows.to_image(row._mapping, names)


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
    move = {"b_repo_id": repo_id, "b_tag": tag, "b_image_id": image_id, "b_now": now}
    conn.execute(_MOVE_TAG, move)
    return None if _has_tags(conn, current) else current


_TAG_WHERE = (tags.c.repo_id == _REPO, tags.c.name == sa.bindparam("b_tag"))
# RETURNING rather than rowcount: some drivers report -1 for INSERT ... ON CONFLICT.
_CLAIM_TAG = per_dialect(
    lambda conn: insert_ignore(conn, tags, ["repo_id", "name"]).returning(tags.c.image_id)
)
_LOCK_TAG = sa.select(tags.c.image_id).where(*_TAG_WHERE).with_for_update()
_MOVE_TAG = (
    sa.update(tags)
    .where(*_TAG_WHERE)
    .values(image_id=sa.bindparam("b_image_id"), updated_at=sa.bindparam("b_now"))
)
_HAS_TAGS = sa.select(tags.c.name).where(tags.c.image_id == sa.bindparam("b_id")).limit(1)


def _claim_or_lock(conn: Connection, row: dict[str, Any]) -> int | None:
    """Insert the tag row (None), or lock the existing one and return the image it points at."""
    claim = _CLAIM_TAG(conn)
    where = {"b_repo_id": row["repo_id"], "b_tag": row["name"]}
    while True:  # a concurrent delete_tag may remove the row between the two statements
        if conn.execute(claim, row).first() is not None:
            return None
        current = conn.execute(_LOCK_TAG, where).scalar()
        if current is not None:
            return current


def _has_tags(conn: Connection, image_id: int) -> bool:
    return conn.execute(_HAS_TAGS, {"b_id": image_id}).first() is not None


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


def images_with_tags(conn: Connection, rows: Sequence[sa.RowMapping]) -> list[Image]:
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
