"""The metadata contract on SQLite (a temporary file per test), plus SQLite-only guarantees:
the pragmas that make it durable and concurrent, BEGIN IMMEDIATE for writers, WAL readers that
never block writers, listing pages that are index range scans, and loud refusals of unusable
set-ups.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.backends.metadata.sql import SqlMetadataStore
from dockyard.domain.models import ImageEntryKey, ImageKey, Repository

from .metadata_support import NOW, make_image, sha
from .sql_metadata import SqlMetadataContract, executed
from .sqlite_trace import sqlite_statements, transaction_control


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'metadata.db'}"


class TestSqliteMetadataStore(SqlMetadataContract):
    @pytest.fixture
    def store(self, sqlite_url: str) -> Iterator[SqlMetadataStore]:
        store = SqlMetadataStore(sqlite_url)
        yield store
        store.close()

    def test_pragmas(self, store: SqlMetadataStore) -> None:
        names = ["journal_mode", "synchronous", "busy_timeout", "foreign_keys"]
        with store.engine.connect() as conn:
            found = [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names]
        assert found == ["wal", 1, 30_000, 1]  # synchronous 1 is NORMAL (crash-safe in WAL)

    def test_writes_begin_immediate_and_reads_do_not(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        writes = sqlite_statements(store, lambda: store.link_blob(repo.id, sha("a"), 1, NOW))
        reads = sqlite_statements(store, lambda: store.linked_blob_size(repo.id, sha("a")))
        assert transaction_control(writes) == ["BEGIN IMMEDIATE", "COMMIT"]
        assert transaction_control(reads)[0] == "BEGIN"
        assert writes[0] == "BEGIN IMMEDIATE" and reads[0] == "BEGIN"

    def test_an_atomic_block_is_one_write_transaction(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        def block() -> None:
            with store.atomic():
                store.get_repository(repo.account_id, repo.name)
                store.linked_blob_sizes(repo.id, [sha("a"), sha("b")])
                store.save_image(repo.id, make_image("a"), "v1", True, NOW)
                store.get_image(repo.id, make_image("a").digest)

        statements = sqlite_statements(store, block)
        assert transaction_control(statements) == ["BEGIN IMMEDIATE", "COMMIT"]
        assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT"

    def test_writing_says_whether_a_write_of_this_process_is_open(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        assert not store.writing
        seen = []
        with store.atomic():
            seen.append(store.writing)
            store.link_blob(repo.id, sha("w"), 1, NOW)  # joins the block: no second lock
        assert seen == [True] and not store.writing
        with pytest.raises(RuntimeError), store.atomic():
            raise RuntimeError("a failed block releases the lock too")
        assert not store.writing

    def test_open_reader_does_not_block_writers(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        with store.engine.connect() as reader:
            reader.exec_driver_sql("SELECT count(*) FROM images").scalar()  # snapshot held
            writer = threading.Thread(
                target=store.save_image, args=(repo.id, make_image("a"), "v1", False, NOW)
            )
            writer.start()
            # Far below busy_timeout: a blocked writer would still be waiting here.
            writer.join(timeout=10)
            assert not writer.is_alive(), "writer waited for an open read transaction"
            assert reader.exec_driver_sql("SELECT count(*) FROM images").scalar() == 0
        assert store.get_image_by_tag(repo.id, "v1") is not None

    @pytest.mark.parametrize(
        ("listing", "index"),
        [
            (lambda s, r: s.list_images(r, ImageKey(1.0, 1), 100, "ANY", "ACTIVE"), "status"),
            (lambda s, r: s.list_images(r, ImageKey(1.0, 1), 100, "TAGGED", "ARCHIVED"), "status"),
            (lambda s, r: s.list_images(r, ImageKey(1.0, 1), 100, "UNTAGGED", "ANY"), "plain"),
            (lambda s, r: s.list_image_entries(r, ImageEntryKey(1.0, 1, "a"), 100), "plain"),
            (
                lambda s, r: s.list_image_entries(r, ImageEntryKey(1.0, 1, ""), 9, "TAGGED"),
                "plain",
            ),
        ],
    )
    def test_a_listing_page_is_an_index_range_scan(
        self,
        store: SqlMetadataStore,
        repo: Repository,
        listing: Callable[[SqlMetadataStore, int], object],
        index: str,
    ) -> None:
        """Seek to the key and read in index order: no scan from the start, no sort."""
        [(statement, parameters)] = _page_queries(store, lambda: listing(store, repo.id))
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        plan = [row[-1] for row in rows]
        name = {
            "status": "ix_images_repo_id_status_pushed_at_id",
            "plain": "ix_images_repo_id_pushed_at_id",
        }[index]
        assert any(
            step.startswith(f"SEARCH images USING INDEX {name} (") and "pushed_at>?" in step
            for step in plan
        ), plan
        assert not any("TEMP B-TREE" in step or step.startswith("SCAN") for step in plan), plan


def _page_queries(store: SqlMetadataStore, action: Callable[[], object]) -> list[tuple[str, Any]]:
    """The (statement, parameters) of each query `action` runs that reads the images table."""
    return [
        (statement, parameters)
        for statement, parameters in executed(store, action)
        if statement.lstrip().startswith("SELECT") and "FROM images" in statement
    ]


def test_probe_reports_missing_schema(sqlite_url: str) -> None:
    store = SqlMetadataStore(sqlite_url, create=False)
    try:
        with pytest.raises(RuntimeError, match="schema revision none .*run `dockyard db upgrade"):
            store.probe()
    finally:
        store.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="in-memory SQLite"):
        SqlMetadataStore(url)


def test_unknown_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported metadata database"):
        SqlMetadataStore("mysql://localhost/dockyard")
