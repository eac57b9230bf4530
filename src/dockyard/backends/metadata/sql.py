"""SqlMetadataStore: the MetadataStore port on SQLite or PostgreSQL through SQLAlchemy Core.

Every public method is one transaction: `_read()` for queries, `_write()` for changes. On SQLite
a write transaction begins IMMEDIATE (see dialects.py), so writers queue on busy_timeout instead of
failing, and readers in WAL mode never wait for them. Inside an `atomic()` block the methods join
the block's write transaction instead (one BEGIN, one COMMIT and one pooled connection for a whole
push); the block's connection is held in a ContextVar, so it is private to the thread or task
that opened it. The queries themselves live beside it:
_images.py (images and tags), _listing.py (paged image views), _admin.py (repository settings),
_accounts.py (account-level rows), _console.py (the web console), _outbox.py (webhook
deliveries); row mapping in _rows.py; the tables in schema.py.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata import (
    _accounts,
    _admin,
    _console,
    _garbage,
    _images,
    _lifecycle,
    _listing,
    _outbox,
    _policies,
    _pull_through,
    _replication,
    _rows,
    _scans,
    _storage_history,
    _uploads,
    dialects,
    revision,
)
from dockyard.backends.metadata._stats import StatsMethods
from dockyard.backends.metadata.schema import (
    blobs,
    image_refs,
    images,
    repo_blobs,
    repositories,
    repository_tags,
    tags,
    uploads,
)
from dockyard.domain.errors import RepositoryNotFound
from dockyard.domain.models import (
    Image,
    ImageEntry,
    ImageEntryKey,
    ImageKey,
    NewImage,
    Repository,
    RepositoryChanges,
    RepositorySettings,
    SavedImage,
    Upload,
)

# The hot lookups of a push, built once (see _images.py on prebuilt statements).
_REPOSITORY = sa.select(repositories).where(
    repositories.c.account_id == sa.bindparam("b_account"),
    repositories.c.name == sa.bindparam("b_name"),
)


@functools.lru_cache(maxsize=256)
def _linked(count: int) -> sa.Select[str, int]:
    """Which of `count` digests the repository links, with their sizes: a statement per count,
    as an expanding IN list would be rendered again on every execution (a third of the lookup's
    cost)."""
    return (
        sa.select(repo_blobs.c.digest, blobs.c.size)
        .join(blobs, blobs.c.digest == repo_blobs.c.digest)
        .where(
            repo_blobs.c.repo_id == sa.bindparam("b_repo_id"),
            repo_blobs.c.digest.in_([sa.bindparam(f"b_digest{i}") for i in range(count)]),
        )
    )


class SqlMetadataStore(
    _scans.ScanMethods,
    _console.ConsoleMethods,
    _outbox.OutboxMethods,
    _lifecycle.LifecycleMethods,
    StatsMethods,
    _garbage.GarbageMethods,
    _policies.PolicyMethods,
    _pull_through.PullThroughMethods,
    _storage_history.StorageHistoryMethods,
    _replication.ReplicationMethods,
):
    """Metadata in SQL; `url` is a SQLAlchemy URL (sqlite:///PATH or postgresql://...)."""

    def __init__(self, url: str, create: bool = True) -> None:
        self.engine = dialects.create_engine(url)
        self._reader = dialects.read_engine(self.engine)
        # SQLite takes one writer at a time anyway; writers of this process take this lock
        # first, so `writing` can tell whether one is in progress.
        self._write_lock = threading.Lock() if self.engine.dialect.name == "sqlite" else None
        # The connection of the atomic() block in progress in this thread or task, if any.
        self._atomic: ContextVar[Connection | None] = ContextVar("atomic", default=None)
        # A new file, or one already at head: no Alembic at all (see revision.py). Otherwise
        # the migrations create or update the schema, under their lock (see migrate.py).
        if create and not (revision.create_fresh(self.engine) or revision.at_head(self.engine)):
            from dockyard.backends.metadata import migrate

            migrate.upgrade(self.engine)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        joined = self._atomic.get()
        if joined is not None:
            yield joined
            return
        with self._reader.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        joined = self._atomic.get()
        if joined is not None:
            yield joined
            return
        with self._writer(), self.engine.connect() as conn, dialects.begin_write(conn):
            yield conn

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """The store calls inside the block run as one write transaction (see the module doc)."""
        if self._atomic.get() is not None:
            yield  # a nested block is part of the outer one
            return
        with self._writer(), self.engine.connect() as conn, dialects.begin_write(conn):
            token = self._atomic.set(conn)
            try:
                yield
            finally:
                self._atomic.reset(token)

    def _writer(self) -> contextlib.AbstractContextManager[object]:
        return self._write_lock if self._write_lock is not None else contextlib.nullcontext()

    @property
    def writing(self) -> bool:
        """True while a write transaction of this process is open (SQLite): a call run on the
        event loop now could wait for it (the composition root's call placement asks this)."""
        return self._write_lock is not None and self._write_lock.locked()

    # -- lifecycle ---------------------------------------------------------------------------

    def probe(self) -> None:
        """Raise with what to fix when the database is unreachable or not at our schema revision."""
        if not revision.at_head(self.engine):  # at head: the usual case, answered without Alembic
            from dockyard.backends.metadata import migrate

            migrate.require_head(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- repositories ------------------------------------------------------------------------

    def create_repository(self, account_id: str, name: str, now: float) -> Repository:
        return self.create_configured_repository(account_id, name, RepositorySettings(), now)

    def get_repository(self, account_id: str, name: str) -> Repository | None:
        with self._read() as conn:
            found = conn.execute(_REPOSITORY, {"b_account": account_id, "b_name": name}).first()
        return None if found is None else _rows.to_repository(found._mapping)

    def list_repository_names(self, account_id: str, after: str | None, limit: int) -> list[str]:
        stmt = sa.select(repositories.c.name).where(repositories.c.account_id == account_id)
        if after is not None:
            stmt = stmt.where(repositories.c.name > after)
        with self._read() as conn:
            return list(conn.execute(stmt.order_by(repositories.c.name).limit(limit)).scalars())

    def delete_repository(self, repo_id: int) -> None:
        """Delete the repository and every row under it, children before parents."""
        image_ids = sa.select(images.c.id).where(images.c.repo_id == repo_id)
        with self._write() as conn:
            conn.execute(sa.delete(image_refs).where(image_refs.c.image_id.in_(image_ids)))
            _scans.delete_scans(conn, image_ids)
            # Upload sessions first: a finishing upload deletes its session before linking
            # its blob, so whichever deletes the row first decides (see _uploads.py).
            for table in (uploads, tags, images, repo_blobs, repository_tags):
                conn.execute(sa.delete(table).where(table.c.repo_id == repo_id))
            _lifecycle.delete_repository_rows(conn, repo_id)
            _replication.delete_repository_rows(conn, repo_id)
            conn.execute(sa.delete(repositories).where(repositories.c.id == repo_id))

    # -- repository settings -----------------------------------------------------------------

    def create_configured_repository(
        self, account_id: str, name: str, settings: RepositorySettings, now: float
    ) -> Repository:
        with self._write() as conn:
            return _admin.create_repository(conn, account_id, name, settings, now)

    def list_repositories(
        self, account_id: str, names: Sequence[str] | None, after: str | None, limit: int
    ) -> list[Repository]:
        with self._read() as conn:
            return _admin.list_repositories(conn, account_id, names, after, limit)

    def update_repository(self, repo_id: int, changes: RepositoryChanges) -> Repository:
        with self._write() as conn:
            return _admin.update_repository(conn, repo_id, changes)

    def has_images(self, repo_id: int) -> bool:
        with self._read() as conn:
            return _admin.has_images(conn, repo_id)

    def resource_tags(self, repo_id: int) -> dict[str, str]:
        with self._read() as conn:
            return _admin.resource_tags(conn, repo_id)

    def set_resource_tags(self, repo_id: int, tags: dict[str, str]) -> None:
        with self._write() as conn:
            _admin.set_resource_tags(conn, repo_id, tags)

    def remove_resource_tags(self, repo_id: int, keys: Sequence[str]) -> None:
        with self._write() as conn:
            _admin.remove_resource_tags(conn, repo_id, keys)

    # -- blobs -------------------------------------------------------------------------------

    def link_blob(self, repo_id: int, digest: str, size: int, now: float) -> None:
        with self._write() as conn:
            _link_blob(conn, repo_id, digest, size, now)

    def finish_upload(
        self,
        upload_id: str,
        repo_id: int,
        digest: str,
        size: int,
        now: float,
        generation: int | None = None,
    ) -> bool:
        with self._write() as conn:
            if generation is not None and not _uploads.take(conn, upload_id, generation):
                return False
            _link_blob(conn, repo_id, digest, size, now)
            return True

    def linked_blob_size(self, repo_id: int, digest: str) -> int | None:
        stmt = (
            sa.select(blobs.c.size)
            .join(repo_blobs, repo_blobs.c.digest == blobs.c.digest)
            .where(repo_blobs.c.repo_id == repo_id, repo_blobs.c.digest == digest)
        )
        with self._read() as conn:
            return conn.execute(stmt).scalar()

    def unlink_blob(self, repo_id: int, digest: str) -> bool:
        where = (repo_blobs.c.repo_id == repo_id) & (repo_blobs.c.digest == digest)
        with self._write() as conn:
            return conn.execute(sa.delete(repo_blobs).where(where)).rowcount > 0

    def linked_blob_sizes(self, repo_id: int, digests: Sequence[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(digests))
        if not wanted:
            return {}
        params = {f"b_digest{i}": digest for i, digest in enumerate(wanted)}
        with self._read() as conn:
            found = conn.execute(_linked(len(wanted)), {"b_repo_id": repo_id, **params})
            return {digest: size for digest, size in found}  # rows, not .tuples(): a wrapper less

    def linked_digests(self, repo_id: int) -> list[str]:
        stmt = sa.select(repo_blobs.c.digest).where(repo_blobs.c.repo_id == repo_id)
        with self._read() as conn:
            return sorted(conn.execute(stmt).scalars())

    # -- images and tags ---------------------------------------------------------------------

    def save_image(
        self, repo_id: int, image: NewImage, tag: str | None, may_move_tag: bool, now: float
    ) -> SavedImage:
        """Store the image and move the tag in one transaction (see _images.save_image)."""
        with self._write() as conn:
            return _images.save_image(conn, repo_id, image, tag, may_move_tag, now)

    def get_image(self, repo_id: int, digest: str, with_manifest: bool = False) -> Image | None:
        with self._read() as conn:
            return _images.image_by_digest(conn, repo_id, digest, with_manifest)

    def get_image_by_tag(self, repo_id: int, tag: str, with_manifest: bool = False) -> Image | None:
        with self._read() as conn:
            return _images.image_by_tag(conn, repo_id, tag, with_manifest)

    def images_by_digests(
        self, repo_id: int, digests: Sequence[str], with_manifest: bool = False
    ) -> list[Image]:
        """Images found, in the order of `digests` (first occurrence), missing ones left out."""
        wanted = list(dict.fromkeys(digests))
        if not wanted:
            return []
        where = (images.c.repo_id == repo_id) & images.c.digest.in_(wanted)
        with self._read() as conn:
            by_digest = {i.digest: i for i in _images.load_images(conn, where, with_manifest)}
        return [by_digest[d] for d in wanted if d in by_digest]

    def parents_of(self, repo_id: int, digest: str) -> list[str]:
        with self._read() as conn:
            return _images.parents_of(conn, repo_id, digest)

    def blob_referenced(self, repo_id: int, digest: str) -> bool:
        with self._read() as conn:
            return _images.blob_referenced(conn, repo_id, digest)

    def delete_image(self, repo_id: int, digest: str) -> bool:
        with self._write() as conn:
            return _images.delete_image(conn, repo_id, digest)

    def delete_tag(self, repo_id: int, tag: str) -> bool:
        where = (tags.c.repo_id == repo_id) & (tags.c.name == tag)
        with self._write() as conn:
            return conn.execute(sa.delete(tags).where(where)).rowcount > 0

    def list_tags(self, repo_id: int, after: str | None, limit: int | None) -> list[str]:
        stmt = sa.select(tags.c.name).where(tags.c.repo_id == repo_id)
        if after is not None:
            stmt = stmt.where(tags.c.name > after)
        with self._read() as conn:
            return list(conn.execute(stmt.order_by(tags.c.name).limit(limit)).scalars())

    def referrers(self, repo_id: int, subject_digest: str) -> list[Image]:
        where = (images.c.repo_id == repo_id) & (images.c.subject_digest == subject_digest)
        order = (images.c.pushed_at, images.c.id)
        with self._read() as conn:
            return _images.load_images(conn, where, with_manifest=True, order_by=order)

    def record_pulls(self, pulls: dict[int, float]) -> None:
        if pulls:
            with self._write() as conn:
                _images.record_pulls(conn, pulls)

    # -- image listings (see _listing.py) -----------------------------------------------------

    def list_images(
        self,
        repo_id: int,
        after: ImageKey | None,
        limit: int,
        tag_status: str = "ANY",
        image_status: str = "ANY",
    ) -> list[Image]:
        with self._read() as conn:
            return _listing.list_images(conn, repo_id, after, limit, tag_status, image_status)

    def list_image_entries(
        self,
        repo_id: int,
        after: ImageEntryKey | None,
        limit: int,
        tag_status: str = "ANY",
        image_status: str = "ANY",
    ) -> list[ImageEntry]:
        with self._read() as conn:
            return _listing.list_image_entries(
                conn, repo_id, after, limit, tag_status, image_status
            )

    def images_by_tags(self, repo_id: int, tags: Sequence[str]) -> dict[str, Image]:
        with self._read() as conn:
            return _listing.images_by_tags(conn, repo_id, tags)

    def set_image_status(self, repo_id: int, digest: str, status: str, now: float) -> Image | None:
        with self._write() as conn:
            return _listing.set_image_status(conn, repo_id, digest, status, now)

    # -- uploads -----------------------------------------------------------------------------

    def create_upload(self, upload: Upload) -> None:
        with self._write() as conn:
            _uploads.create(conn, upload)

    def get_upload(self, upload_id: str) -> Upload | None:
        with self._read() as conn:
            return _uploads.get(conn, upload_id)

    def advance_upload(
        self, upload: Upload, size: int, segment: str, hash_state: bytes | None = None
    ) -> Upload | None:
        with self._write() as conn:
            return _uploads.advance(conn, upload, size, segment, hash_state)

    def delete_upload(self, upload_id: str) -> None:
        with self._write() as conn:
            conn.execute(sa.delete(uploads).where(uploads.c.id == upload_id))

    # -- account-level rows (see _accounts.py) -----------------------------------------------

    def get_account_setting(self, account_id: str, name: str) -> str | None:
        with self._read() as conn:
            return _accounts.get_account_setting(conn, account_id, name)

    def put_account_setting(self, account_id: str, name: str, value: str) -> None:
        with self._write() as conn:
            _accounts.put_account_setting(conn, account_id, name, value)

    def add_pull_exclusion(self, account_id: str, principal: str, now: float) -> bool:
        with self._write() as conn:
            return _accounts.add_pull_exclusion(conn, account_id, principal, now)

    def remove_pull_exclusion(self, account_id: str, principal: str) -> bool:
        with self._write() as conn:
            return _accounts.remove_pull_exclusion(conn, account_id, principal)

    def list_pull_exclusions(self, account_id: str, after: str | None, limit: int) -> list[str]:
        with self._read() as conn:
            return _accounts.list_pull_exclusions(conn, account_id, after, limit)

    def secret(self, name: str, create: bytes) -> bytes:
        with self._write() as conn:
            return _accounts.secret(conn, name, create)


def _link_blob(conn: Connection, repo_id: int, digest: str, size: int, now: float) -> None:
    blob = {"digest": digest, "size": size, "created_at": now}
    link = {"repo_id": repo_id, "digest": digest}
    conn.execute(dialects.insert_ignore(conn, blobs, ["digest"]).values(blob))
    try:
        conn.execute(dialects.insert_ignore(conn, repo_blobs, ["repo_id", "digest"]).values(link))
    except sa.exc.IntegrityError:
        # The only foreign key is the repository's: it was deleted meanwhile (DeleteRepository
        # --force). The transaction rolls back as the error leaves it.
        raise RepositoryNotFound("repository deleted while the blob was being linked") from None
