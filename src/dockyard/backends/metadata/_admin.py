"""Repository settings and resource tags (the ECR control plane); each runs in the caller's
transaction."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata import _rows
from dockyard.backends.metadata.dialects import insert_ignore, upsert
from dockyard.backends.metadata.schema import images, repositories, repository_tags
from dockyard.domain.errors import RepositoryAlreadyExists, RepositoryNotFound
from dockyard.domain.models import Repository, RepositoryChanges, RepositorySettings


def create_repository(
    conn: Connection, account_id: str, name: str, settings: RepositorySettings, now: float
) -> Repository:
    """Insert the repository and its resource tags; RepositoryAlreadyExists if the name is taken."""
    row = _rows.new_repository_row(account_id, name, now, settings)
    stmt = insert_ignore(conn, repositories, ["account_id", "name"])
    repo_id = conn.execute(stmt.values(row).returning(repositories.c.id)).scalar()
    if repo_id is None:
        raise RepositoryAlreadyExists(
            f"The repository with name '{name}' already exists in the registry "
            f"with id '{account_id}'",
            name=name,
        )
    set_resource_tags(conn, repo_id, settings.resource_tags)
    return _rows.to_repository({**row, "id": repo_id})


def list_repositories(
    conn: Connection, account_id: str, names: Sequence[str] | None, after: str | None, limit: int
) -> list[Repository]:
    stmt = sa.select(repositories).where(repositories.c.account_id == account_id)
    if names is not None:
        if not names:
            return []
        stmt = stmt.where(repositories.c.name.in_(list(dict.fromkeys(names))))
    if after is not None:
        stmt = stmt.where(repositories.c.name > after)
    stmt = stmt.order_by(repositories.c.name).limit(limit)
    return [_rows.to_repository(row) for row in conn.execute(stmt).mappings()]


def update_repository(conn: Connection, repo_id: int, changes: RepositoryChanges) -> Repository:
    values = _rows.repository_changes(changes)
    where = repositories.c.id == repo_id
    if values:
        conn.execute(sa.update(repositories).where(where).values(values))
    row = conn.execute(sa.select(repositories).where(where)).mappings().first()
    if row is None:  # deleted since the caller looked it up
        raise RepositoryNotFound(f"The repository with id '{repo_id}' does not exist")
    return _rows.to_repository(row)


def has_images(conn: Connection, repo_id: int) -> bool:
    # EXISTS stops at the first row; a count would read the whole repository.
    stmt = sa.select(sa.exists().where(images.c.repo_id == repo_id))
    return bool(conn.execute(stmt).scalar_one())


def resource_tags(conn: Connection, repo_id: int) -> dict[str, str]:
    stmt = (
        sa.select(repository_tags.c.key, repository_tags.c.value)
        .where(repository_tags.c.repo_id == repo_id)
        .order_by(repository_tags.c.key)
    )
    return {key: value for key, value in conn.execute(stmt)}


def set_resource_tags(conn: Connection, repo_id: int, tags: dict[str, str]) -> None:
    if tags:
        rows = [{"repo_id": repo_id, "key": k, "value": v} for k, v in sorted(tags.items())]
        conn.execute(upsert(conn, repository_tags, ["repo_id", "key"], ["value"]), rows)


def remove_resource_tags(conn: Connection, repo_id: int, keys: Sequence[str]) -> None:
    if keys:
        where = (repository_tags.c.repo_id == repo_id) & repository_tags.c.key.in_(list(keys))
        conn.execute(sa.delete(repository_tags).where(where))
