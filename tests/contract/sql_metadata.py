"""The metadata contract for SQL backends: leftovers are counted straight from the tables.

A SQL backend's test module subclasses `SqlMetadataContract` with a per-test `store` fixture
that yields a `SqlMetadataStore` on an empty database (a temporary file for SQLite; a fresh
database or schema for PostgreSQL), so counting every row is counting what the test left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from dockyard.backends.metadata.schema import (
    account_settings,
    blobs,
    finding_documents,
    inventories,
    metadata,
    secrets,
)
from dockyard.backends.metadata.sql import SqlMetadataStore
from dockyard.domain.models import ImageKey, Repository

from ._metadata_garbage import GarbageCases
from ._metadata_storage_history import StorageHistoryCases
from .metadata_contract import MetadataStoreContract
from .metadata_support import NOW, make_image

# Blobs are a global, deduplicated index that outlives repositories until garbage collection.
# So is the inventory cache, keyed by manifest digest, and so are finding documents (shared by
# scans, removed by delete_unused_findings, which the scan cases test).
# Registry-wide rows no repository owns (storage history: what collections freed, per account).
_SHARED_TABLES = {blobs.name, inventories.name, finding_documents.name, "gc_runs", "storage_totals"}


class SqlMetadataContract(GarbageCases, StorageHistoryCases, MetadataStoreContract):
    def residue(self, store: SqlMetadataStore) -> dict[str, int]:  # type: ignore[override]
        counts: dict[str, int] = {}
        with store.engine.connect() as conn:
            for table in metadata.sorted_tables:
                if table.name not in _SHARED_TABLES:
                    counts[table.name] = conn.execute(
                        sa.select(sa.func.count()).select_from(table)
                    ).scalar_one()
        return {name: count for name, count in counts.items() if count}

    def forget(  # type: ignore[override]
        self, store: SqlMetadataStore, accounts: Sequence[str], secret_names: Sequence[str]
    ) -> None:
        with store.engine.connect() as conn:
            conn.execute(
                sa.delete(account_settings).where(account_settings.c.account_id.in_(accounts))
            )
            conn.execute(sa.delete(secrets).where(secrets.c.name.in_(secret_names)))
            conn.commit()

    def test_tags_of_many_images_cost_one_query(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        news = [make_image(f"img{i}") for i in range(5)]
        for i, new in enumerate(news):
            store.save_image(repo.id, new, f"t{i}", False, NOW)
        one = statements_of(store, lambda: store.images_by_digests(repo.id, [news[0].digest]))
        many = statements_of(
            store, lambda: store.images_by_digests(repo.id, [n.digest for n in news])
        )
        assert len(many) == len(one)

    def test_a_listing_page_costs_two_queries(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        for i in range(6):
            store.save_image(repo.id, make_image(f"img{i}"), f"t{i}", False, NOW + i)
            store.save_image(repo.id, make_image(f"img{i}"), f"u{i}", False, NOW + i)
        after = ImageKey(NOW, 0)

        def queries(action: Callable[[], object]) -> list[str]:
            return [s for s in statements_of(store, action) if s.lstrip().startswith("SELECT")]

        one = queries(lambda: store.list_images(repo.id, after, 1, "TAGGED", "ACTIVE"))
        many = queries(lambda: store.list_images(repo.id, after, 100, "TAGGED", "ACTIVE"))
        assert len(one) == len(many) == 2  # the page, then the tags of every image on it
        entries = queries(lambda: store.list_image_entries(repo.id, None, 100))
        assert len(entries) == 2
        assert len(queries(lambda: store.images_by_tags(repo.id, ["t1", "t2", "u3"]))) == 2

    @pytest.mark.parametrize("bad", [{"tag_status": "SOME"}, {"image_status": "DELETED"}])
    def test_listing_rejects_unknown_filters(
        self, store: SqlMetadataStore, repo: Repository, bad: dict[str, str]
    ) -> None:
        with pytest.raises(ValueError, match="must be one of"):
            store.list_images(repo.id, None, 10, **bad)


def executed(store: SqlMetadataStore, action: Callable[[], object]) -> list[tuple[str, Any]]:
    """The (statement, parameters) `action` sends to the database, in order."""
    seen: list[tuple[str, Any]] = []
    listener = lambda *args: seen.append((args[2], args[3]))
    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        action()
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)
    return seen


def statements_of(store: SqlMetadataStore, action: Callable[[], object]) -> list[str]:
    """The SQL statements `action` sends to the database, in order."""
    return [statement for statement, _ in executed(store, action)]
