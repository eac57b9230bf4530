"""The paged image views (DescribeImages, ListImages) and the lookups and updates beside them.

Every page is one range scan of an images index in key order, never a sort of the repository:

    WHERE repo_id = ? [AND status = ?] AND <after the key> [AND [NOT] EXISTS (tags of the image)]
    ORDER BY pushed_at, id LIMIT ?

"After the key" is the row-value comparison (pushed_at, id) > (?, ?) spelled out so every engine
takes it: `pushed_at >= ? AND (pushed_at > ? OR (pushed_at = ? AND id > ?))`. The leading
`pushed_at >= ?` is redundant logically but not for the planner: it is the range bound that lets
SQLite and PostgreSQL seek straight to the key instead of filtering from the repository's first
row, so page 10,000 costs what page 1 does. Keyset pages never skip or repeat a row that exists
for the whole listing, whatever is pushed or deleted between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata import _images, _rows
from dockyard.backends.metadata.schema import images, tags
from dockyard.domain.models import Image, ImageEntry, ImageEntryKey, ImageKey

TAG_STATUSES = ("TAGGED", "UNTAGGED", "ANY")
IMAGE_STATUSES = ("ACTIVE", "ARCHIVED", "ACTIVATING")

_ORDER = (images.c.pushed_at, images.c.id)


def list_images(
    conn: Connection,
    repo_id: int,
    after: ImageKey | None,
    limit: int,
    tag_status: str,
    image_status: str,
) -> list[Image]:
    where = _filter(repo_id, image_status)
    if after is not None:
        where.append(_after(after.pushed_at, after.id))
    tagged = sa.exists().where(tags.c.image_id == images.c.id)
    if _check(tag_status, TAG_STATUSES, "tag_status") == "TAGGED":
        where.append(tagged)
    elif tag_status == "UNTAGGED":
        where.append(~tagged)
    stmt = sa.select(*_rows.image_columns(False)).where(*where).order_by(*_ORDER).limit(limit)
    return _images.images_with_tags(conn, conn.execute(stmt).mappings().all())


def list_image_entries(
    conn: Connection,
    repo_id: int,
    after: ImageEntryKey | None,
    limit: int,
    tag_status: str,
    image_status: str,
) -> list[ImageEntry]:
    """One entry per (image, tag), an untagged image once with tag None, by (pushed_at, id, tag).

    An untagged image's key has tag '' (below every real tag), so its single entry sorts just
    before the entries it would have if tagged; every (image, tag) entry is listed at most once.
    """
    where = _filter(repo_id, image_status)
    entry_tag = sa.func.coalesce(tags.c.name, "")
    if after is not None:
        same_image = (images.c.id > after.id) | (
            (images.c.id == after.id) & (entry_tag > after.tag)
        )
        where.append(_after(after.pushed_at, after.id, same_image))
    if _check(tag_status, TAG_STATUSES, "tag_status") == "TAGGED":
        where.append(tags.c.name.is_not(None))
    elif tag_status == "UNTAGGED":
        where.append(tags.c.name.is_(None))
    # LEFT JOIN whatever the filter: it keeps images the outer loop, scanned in index order.
    joined = images.outerjoin(tags, tags.c.image_id == images.c.id)
    stmt = (
        sa.select(*_rows.image_columns(False), tags.c.name.label("entry_tag"))
        .select_from(joined)
        .where(*where)
        .order_by(*_ORDER, tags.c.name)
        .limit(limit)
    )
    rows = conn.execute(stmt).mappings().all()
    # Each entry's image carries all its tags, as DescribeImages would show it.
    by_id = _by_id(conn, rows)
    return [ImageEntry(by_id[row["id"]], row["entry_tag"]) for row in rows]


def images_by_tags(conn: Connection, repo_id: int, names: Sequence[str]) -> dict[str, Image]:
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    stmt = (
        sa.select(*_rows.image_columns(False), tags.c.name.label("tag_name"))
        .join_from(tags, images, tags.c.image_id == images.c.id)
        .where(tags.c.repo_id == repo_id, tags.c.name.in_(wanted))
    )
    rows = conn.execute(stmt).mappings().all()
    by_id = _by_id(conn, rows)
    return {row["tag_name"]: by_id[row["id"]] for row in rows}


def set_image_status(
    conn: Connection, repo_id: int, digest: str, status: str, now: float
) -> Image | None:
    """Change the status; the archive or activation time moves only when the status changes."""
    values: dict[str, Any] = {"status": _check(status, IMAGE_STATUSES, "status")}
    changed = images.c.status != status
    # The right-hand sides of an UPDATE see the row as it was, on every engine.
    if status == "ARCHIVED":
        values["archived_at"] = sa.case((changed, now), else_=images.c.archived_at)
    elif status == "ACTIVE":
        values["activated_at"] = sa.case((changed, now), else_=images.c.activated_at)
    where = (images.c.repo_id == repo_id) & (images.c.digest == digest)
    conn.execute(sa.update(images).where(where).values(values))
    found = _images.load_images(conn, where, with_manifest=False)
    return found[0] if found else None


def _by_id(conn: Connection, rows: Sequence[sa.RowMapping]) -> dict[int, Image]:
    """One image (tags filled) per distinct image of rows that may repeat an image."""
    distinct = list({row["id"]: row for row in rows}.values())
    return {image.id: image for image in _images.images_with_tags(conn, distinct)}


def _filter(repo_id: int, image_status: str) -> list[sa.ColumnElement[bool]]:
    where = [images.c.repo_id == repo_id]
    if _check(image_status, (*IMAGE_STATUSES, "ANY"), "image_status") != "ANY":
        where.append(images.c.status == image_status)
    return where


def _after(
    pushed_at: float, image_id: int, same_time: sa.ColumnElement[bool] | None = None
) -> sa.ColumnElement[bool]:
    """(pushed_at, id) > (pushed_at, image_id), or `same_time` decides rows of that push time."""
    tie = images.c.id > image_id if same_time is None else same_time
    later = (images.c.pushed_at > pushed_at) | ((images.c.pushed_at == pushed_at) & tie)
    return (images.c.pushed_at >= pushed_at) & later


def _check(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value
