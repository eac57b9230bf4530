"""The web console's queries: sessions (ConsoleSessionStore) and overviews (RepositoryOverview).

console_sessions      one row per sign-in, by hash of the cookie; expired rows swept
repository_summaries  a page of repositories by name, then three grouped queries over the
                      page's ids only (images, linked blobs): cost grows with the page,
                      not with the account
images_newest_first   the DescribeImages range scan walked backwards on the same indexes:
                      (pushed_at, id) < key, ORDER BY pushed_at DESC, id DESC
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata import _images, _listing, _rows
from dockyard.backends.metadata.schema import (
    blobs,
    console_sessions,
    images,
    repo_blobs,
    repositories,
    tags,
)
from dockyard.domain.models import (
    AccountStorage,
    ConsoleSession,
    Image,
    ImageKey,
    RepositorySummary,
)

_DESCENDING = (images.c.pushed_at.desc(), images.c.id.desc())


def _before(key: ImageKey) -> sa.ColumnElement[bool]:
    """(pushed_at, id) < key; the leading bound lets the planner seek (see _listing.py)."""
    earlier = (images.c.pushed_at < key.pushed_at) | (
        (images.c.pushed_at == key.pushed_at) & (images.c.id < key.id)
    )
    return (images.c.pushed_at <= key.pushed_at) & earlier


def images_newest_first(
    conn: Connection,
    repo_id: int,
    before: ImageKey | None,
    limit: int,
    tag_status: str,
    image_status: str,
) -> list[Image]:
    where = _listing._filter(repo_id, image_status)
    if before is not None:
        where.append(_before(before))
    tagged = sa.exists().where(tags.c.image_id == images.c.id)
    if tag_status == "TAGGED":
        where.append(tagged)
    elif tag_status == "UNTAGGED":
        where.append(~tagged)
    stmt = sa.select(*_rows.image_columns(False)).where(*where).order_by(*_DESCENDING)
    return _images.images_with_tags(conn, conn.execute(stmt.limit(limit)).mappings().all())


def repository_summaries(
    conn: Connection, account_id: str, search: str, after: str | None, limit: int
) -> list[RepositorySummary]:
    where = [repositories.c.account_id == account_id]
    if search:
        where.append(repositories.c.name.contains(search, autoescape=True))
    if after is not None:
        where.append(repositories.c.name > after)
    stmt = sa.select(repositories).where(*where).order_by(repositories.c.name).limit(limit)
    repos = [_rows.to_repository(row) for row in conn.execute(stmt).mappings()]
    ids = [repo.id for repo in repos]
    counts = _image_counts(conn, ids)
    stored = _stored_bytes(conn, ids)
    return [
        RepositorySummary(
            repo,
            counts.get(repo.id, (0, None))[0],
            stored.get(repo.id, 0),
            counts.get(repo.id, (0, None))[1],
        )
        for repo in repos
    ]


def _image_counts(conn: Connection, ids: list[int]) -> dict[int, tuple[int, float | None]]:
    if not ids:
        return {}
    stmt = (
        sa.select(images.c.repo_id, sa.func.count(), sa.func.max(images.c.pushed_at))
        .where(images.c.repo_id.in_(ids))
        .group_by(images.c.repo_id)
    )
    return {repo_id: (count, last) for repo_id, count, last in conn.execute(stmt)}


def _stored_bytes(conn: Connection, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    stmt = (
        sa.select(repo_blobs.c.repo_id, sa.func.sum(blobs.c.size))
        .join_from(repo_blobs, blobs, repo_blobs.c.digest == blobs.c.digest)
        .where(repo_blobs.c.repo_id.in_(ids))
        .group_by(repo_blobs.c.repo_id)
    )
    return {repo_id: int(total or 0) for repo_id, total in conn.execute(stmt)}


def account_storage(conn: Connection, account_id: str) -> AccountStorage:
    repo_ids = sa.select(repositories.c.id).where(repositories.c.account_id == account_id)
    repo_count = conn.execute(sa.select(sa.func.count()).select_from(repo_ids.subquery())).scalar()
    image_count = conn.execute(
        sa.select(sa.func.count()).where(images.c.repo_id.in_(repo_ids))
    ).scalar()
    distinct_blobs = (
        sa.select(repo_blobs.c.digest)
        .where(repo_blobs.c.repo_id.in_(repo_ids))
        .distinct()
        .subquery()
    )
    stored = conn.execute(
        sa.select(sa.func.sum(blobs.c.size)).join_from(
            distinct_blobs, blobs, distinct_blobs.c.digest == blobs.c.digest
        )
    ).scalar()
    return AccountStorage(int(repo_count or 0), int(image_count or 0), int(stored or 0))


def _session(row: sa.RowMapping) -> ConsoleSession:
    return ConsoleSession(
        row["key"],
        row["account_id"],
        row["principal"],
        row["csrf_token"],
        row["created_at"],
        row["expires_at"],
    )


class ConsoleMethods:
    """The ConsoleSessionStore and RepositoryOverview ports, mixed into SqlMetadataStore."""

    _read: Callable[[], AbstractContextManager[Connection]]  # SqlMetadataStore's transactions
    _write: Callable[[], AbstractContextManager[Connection]]

    def create_session(self, session: ConsoleSession) -> None:
        with self._write() as conn:
            conn.execute(
                sa.insert(console_sessions).values(
                    key=session.key,
                    account_id=session.account_id,
                    principal=session.principal,
                    csrf_token=session.csrf_token,
                    created_at=session.created_at,
                    expires_at=session.expires_at,
                )
            )

    def get_session(self, key: str) -> ConsoleSession | None:
        with self._read() as conn:
            stmt = sa.select(console_sessions).where(console_sessions.c.key == key)
            row = conn.execute(stmt).mappings().first()
        return None if row is None else _session(row)

    def delete_session(self, key: str) -> None:
        with self._write() as conn:
            conn.execute(sa.delete(console_sessions).where(console_sessions.c.key == key))

    def delete_sessions_expired(self, now: float) -> int:
        with self._write() as conn:
            stmt = sa.delete(console_sessions).where(console_sessions.c.expires_at < now)
            return conn.execute(stmt).rowcount

    def repository_summaries(
        self, account_id: str, search: str, after: str | None, limit: int
    ) -> list[RepositorySummary]:
        with self._read() as conn:
            return repository_summaries(conn, account_id, search, after, limit)

    def images_newest_first(
        self,
        repo_id: int,
        before: ImageKey | None,
        limit: int,
        tag_status: str = "ANY",
        image_status: str = "ANY",
    ) -> list[Image]:
        with self._read() as conn:
            return images_newest_first(conn, repo_id, before, limit, tag_status, image_status)

    def account_storage(self, account_id: str) -> AccountStorage:
        with self._read() as conn:
            return account_storage(conn, account_id)
