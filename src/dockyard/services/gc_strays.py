"""The collector's stray pass: what the blob store holds that no metadata row accounts for.

    staging  uploads/<id> with no session row: a one-request (monolithic) upload whose process
             died (those never get a row), or an upload whose end was committed but whose
             staging removal was not. Reclaimed once idle for the upload TTL and held by no
             writer (BlobStore.idle_uploads); ids of uploads with a session row are left to
             upload expiry, which ages them by their row.
    bytes    published blobs with no blob row: a publish whose pin ran out and whose row the
             collector forgot meanwhile, metadata restored from an older backup, a copy of
             another store. Reclaimed once stored longer than the grace period: a row is
             inserted straight as `deleting` (GarbageStore.claim_strays, the compare-and-set
             against an upload: a publication pins, creating the row, before it writes any
             bytes, so an upload of the digest either owns the row first and the bytes stay,
             or waits until the bytes are gone and publishes anew), then deleted like garbage.

Nothing here has a metadata time to go by, so both are aged by the store's own timestamps
against the collector's clock (the real one), never a simulated `--now`: an upload in flight
cannot look old because an operator asked what happens in a month. Listing the whole store is
an O(store) walk, so a server does it at most once per `stray_interval`; `dockyard gc` always.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from dockyard.ports import BlobClaim, BlobStore, GarbageStore

STRAY_LEASE = "garbage-collector-strays"  # its expiry is when the next stray pass is due


def reclaim_staging(
    store: GarbageStore,
    blobs: BlobStore,
    idle_since: float,
    dry_run: bool,
    keep_lease: Callable[[], None],
) -> int:
    """Abort the staging of idle uploads that have no session row; how many."""
    reclaimed = 0
    for upload_id in blobs.idle_uploads(idle_since):
        # One id at a time: the store holds the upload's writer locks while this body runs.
        if store.uploads_without_rows([upload_id]):
            if not dry_run:
                keep_lease()
                blobs.abort_upload(upload_id)
            reclaimed += 1
    return reclaimed


def stray_blobs(
    store: GarbageStore, blobs: BlobStore, stored_before: float, batch: int
) -> Iterator[list[BlobClaim]]:
    """Batches (digest order) of published blobs stored before `stored_before` with no row."""
    window: list[BlobClaim] = []
    for stored in blobs.stored_blobs():
        if stored.stored_at < stored_before:
            window.append(BlobClaim(stored.digest, stored.size))
        if len(window) >= batch:
            yield _rowless(store, window)
            window = []
    if window:
        yield _rowless(store, window)


def _rowless(store: GarbageStore, window: list[BlobClaim]) -> list[BlobClaim]:
    missing = set(store.blobs_without_rows([claim.digest for claim in window]))
    return [claim for claim in window if claim.digest in missing]
