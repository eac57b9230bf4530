"""Stored bytes per repository and per account, computed in SQL (`dockyard storage`, GC logs).

    used(owner, digest)  DISTINCT pairs from image_refs (kind blob) ⋈ images ⋈ repositories
    sharers(digest)      how many owners name the digest
    per owner            COUNT, SUM(size), SUM(size) where sharers = 1   (unique bytes)

The owner is the repository (repo_id) for the first query and the account for the second, so a
layer two repositories of one account share is shared per repository and unique per account.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata.schema import REF_BLOB, blobs, image_refs, images, repositories
from dockyard.ports import StorageUse


def _usage(conn: Connection, owner: list[sa.ColumnElement[object]]) -> list[sa.Row]:
    used = (
        sa.select(*owner, image_refs.c.digest)
        .join(images, images.c.id == image_refs.c.image_id)
        .join(repositories, repositories.c.id == images.c.repo_id)
        .where(image_refs.c.kind == REF_BLOB)
        .distinct()
        .cte("used")
    )
    sharers = (
        sa.select(used.c.digest, sa.func.count().label("owners"))
        .group_by(used.c.digest)
        .cte("sharers")
    )
    unique = sa.case((sharers.c.owners == 1, blobs.c.size), else_=0)
    keys = [used.c[c.name] for c in owner]
    stmt = (
        sa.select(*keys, sa.func.count(), sa.func.sum(blobs.c.size), sa.func.sum(unique))
        .select_from(used)
        .join(blobs, blobs.c.digest == used.c.digest)
        .join(sharers, sharers.c.digest == used.c.digest)
        .group_by(*keys)
        .order_by(*keys)
    )
    return list(conn.execute(stmt))


def storage_use(conn: Connection) -> list[StorageUse]:
    per_repo = _usage(conn, [repositories.c.account_id, repositories.c.name])
    per_account = _usage(conn, [repositories.c.account_id])
    found = [StorageUse(a, n, int(c), int(t), int(u)) for a, n, c, t, u in per_repo]
    found += [StorageUse(a, None, int(c), int(t), int(u)) for a, c, t, u in per_account]
    return found
