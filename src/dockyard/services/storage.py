"""Stored bytes an operator can see: per repository and per account, unique and shared.

A repository's bytes are the distinct blobs its images name; "unique" bytes are named by no
other repository (what deleting the repository and collecting garbage would free), "shared"
the rest. Per account likewise, across its repositories. The numbers come from the metadata
store in one SQL pass (backends/metadata/_storage_use.py).

After each real collection (`after_collection`, called by the server's GC task and `dockyard
gc`) what it freed and every account's stored bytes are kept (StorageHistory), for the
console's "last collection" and its storage-over-time plot, and the totals are logged.
"""

from __future__ import annotations

import logging

from dockyard.ports import GarbageStore, GcRunRecord, StorageHistory, StorageUse
from dockyard.services.clock import Clock
from dockyard.services.gc import GcReport

log = logging.getLogger("dockyard.storage")

#: Repositories listed per account in the log after a collection (largest first).
LOGGED_REPOSITORIES = 20


#: Samples the console's plot shows (one per collection: an hourly GC draws 10 days).
HISTORY_SAMPLES = 240

#: A collection that freed nothing is sampled at most this often (seconds): counting every
#: account's bytes reads the whole blob table, and with passes back to back (a short
#: --gc-interval) that count, not the collection, would take most of the collector's time.
QUIET_SAMPLE_SPACING = 300.0


class StorageService:
    def __init__(self, store: GarbageStore, history: StorageHistory, clock: Clock) -> None:
        self.store, self.history, self.clock = store, history, clock
        self._last_sample: float | None = None

    def usage(self) -> list[StorageUse]:
        return self.store.storage_use()

    def account_usage(self, account_id: str) -> tuple[StorageUse | None, list[StorageUse]]:
        """The account's total and its repositories, largest first."""
        mine = [u for u in self.usage() if u.account_id == account_id]
        total = next((u for u in mine if u.repository is None), None)
        return total, sorted((u for u in mine if u.repository), key=lambda u: -u.total_bytes)

    def after_collection(self, report: GcReport) -> None:
        """Keep what a real collection freed and the accounts' totals after it; log them."""
        if report.dry_run or report.skipped:
            return
        now = self.clock.now()
        recent = self._last_sample is not None and now - self._last_sample < QUIET_SAMPLE_SPACING
        if recent and not _freed_anything(report):
            return
        self._last_sample = now
        uses = self.usage()
        totals = [(u.account_id, u.total_bytes) for u in uses if u.repository is None]
        self.history.record_collection(
            GcRunRecord(now, report.blobs_freed, report.bytes_freed, report.uploads_expired),
            totals,
        )
        self._log(uses)

    def last_collection(self) -> GcRunRecord | None:
        return self.history.last_collection()

    def history_of(self, account_id: str) -> list[tuple[float, int]]:
        return self.history.storage_history(account_id, HISTORY_SAMPLES)

    def log_totals(self) -> None:
        self._log(self.usage())

    def _log(self, uses: list[StorageUse]) -> None:
        for use in [u for u in uses if u.repository is None]:
            log.info("storage: %s", describe(use))
        repos = sorted((u for u in uses if u.repository is not None), key=lambda u: -u.total_bytes)
        for use in repos[:LOGGED_REPOSITORIES]:
            log.info("storage: %s", describe(use))


def _freed_anything(report: GcReport) -> bool:
    return bool(
        report.blobs_freed or report.uploads_expired or report.stray_blobs or report.stray_uploads
    )


def describe(use: StorageUse) -> str:
    owner = (
        f"account {use.account_id}"
        if use.repository is None
        else (f"repository {use.account_id}/{use.repository}")
    )
    shared = use.total_bytes - use.unique_bytes
    return (
        f"{owner}: {use.total_bytes} bytes in {use.blobs} blobs "
        f"({use.unique_bytes} unique, {shared} shared)"
    )


def table(uses: list[StorageUse]) -> str:
    """The `dockyard storage` table: accounts, each followed by its repositories."""
    rows = [("ACCOUNT", "REPOSITORY", "BLOBS", "BYTES", "UNIQUE", "SHARED")]
    accounts = [u for u in uses if u.repository is None]
    for account in accounts:
        members = [u for u in uses if u.account_id == account.account_id and u.repository]
        for use in [account, *members]:
            rows.append(
                (
                    use.account_id,
                    use.repository or "(all)",
                    str(use.blobs),
                    str(use.total_bytes),
                    str(use.unique_bytes),
                    str(use.total_bytes - use.unique_bytes),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
