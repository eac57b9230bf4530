"""StorageHistory contract cases (mixed into SqlMetadataContract: SQLite and PostgreSQL)."""

from __future__ import annotations

from dockyard.backends.metadata.sql import SqlMetadataStore
from dockyard.ports import GcRunRecord

from .metadata_support import NOW, fresh_name


def _account() -> str:
    """A 12-digit account id no other case uses (stores may be shared between cases)."""
    return str(abs(hash(fresh_name())) % 10**12).zfill(12)


class StorageHistoryCases:
    def test_collections_and_totals_round_trip(self, store: SqlMetadataStore) -> None:
        a, b = _account(), _account()
        # Instants of their own: every known account gets a sample at each collection.
        at = NOW + int(_account()[:6])
        store.record_collection(GcRunRecord(at, 3, 300, 1), [(a, 1000), (b, 50)])
        later = GcRunRecord(at + 0.5, 2, 20, 0)
        store.record_collection(later, [(a, 980)])  # b stores nothing any more
        assert store.last_collection() == later
        assert store.storage_history(a, 10) == [(at, 1000), (at + 0.5, 980)]
        assert store.storage_history(b, 10) == [(at, 50), (at + 0.5, 0)]
        assert store.storage_history(a, 1) == [(at + 0.5, 980)]  # the newest, oldest first
        assert store.storage_history(_account(), 10) == []
