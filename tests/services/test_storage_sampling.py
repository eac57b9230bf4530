"""StorageService.after_collection: every collection that freed something is sampled; one that
freed nothing only when the last sample is older than QUIET_SAMPLE_SPACING (back-to-back
passes would otherwise spend their time counting every account's bytes)."""

from __future__ import annotations

from dockyard.ports import GcRunRecord, StorageUse
from dockyard.services.clock import FixedClock
from dockyard.services.gc import GcReport
from dockyard.services.storage import QUIET_SAMPLE_SPACING, StorageService


class CountingStore:
    def __init__(self) -> None:
        self.counts = 0

    def storage_use(self) -> list[StorageUse]:
        self.counts += 1
        return [StorageUse("111111111111", None, 1, 10, 10)]


class Samples:
    def __init__(self) -> None:
        self.records: list[GcRunRecord] = []

    def record_collection(self, run: GcRunRecord, totals: list[tuple[str, int]]) -> None:
        self.records.append(run)


def service() -> tuple[StorageService, CountingStore, Samples, FixedClock]:
    store, samples, clock = CountingStore(), Samples(), FixedClock()
    return StorageService(store, samples, clock), store, samples, clock  # type: ignore[arg-type]


def test_quiet_collections_are_sampled_at_most_once_per_spacing() -> None:
    storage, store, samples, clock = service()
    storage.after_collection(GcReport(False))  # the first is always sampled
    clock.advance(QUIET_SAMPLE_SPACING / 2)
    storage.after_collection(GcReport(False))
    assert (len(samples.records), store.counts) == (1, 1)
    clock.advance(QUIET_SAMPLE_SPACING)
    storage.after_collection(GcReport(False))
    assert len(samples.records) == 2


def test_a_collection_that_freed_something_is_always_sampled() -> None:
    storage, _, samples, clock = service()
    storage.after_collection(GcReport(False))
    clock.advance(1)
    storage.after_collection(GcReport(False, blobs_freed=2, bytes_freed=20))
    clock.advance(1)
    storage.after_collection(GcReport(False, uploads_expired=1))
    assert [r.blobs_freed for r in samples.records] == [0, 2, 0]
    assert samples.records[1].finished_at == clock.now() - 1


def test_dry_runs_and_skipped_passes_are_never_sampled() -> None:
    storage, store, samples, _ = service()
    storage.after_collection(GcReport(True))
    storage.after_collection(GcReport(False, skipped=True))
    assert (samples.records, store.counts) == ([], 0)
