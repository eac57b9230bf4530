"""Stored bytes an operator can see: per repository and per account, unique and shared.

A repository's bytes are the distinct blobs its images name; "unique" bytes are named by no
other repository (what deleting the repository and collecting garbage would free), "shared"
the rest. Per account likewise, across its repositories. The numbers come from the metadata
store in one SQL pass (backends/metadata/_storage_use.py).
"""

from __future__ import annotations

import logging

from dockyard.ports import GarbageStore, StorageUse

log = logging.getLogger("dockyard.storage")

#: Repositories listed per account in the log after a collection (largest first).
LOGGED_REPOSITORIES = 20


class StorageService:
    def __init__(self, store: GarbageStore) -> None:
        self.store = store

    def usage(self) -> list[StorageUse]:
        return self.store.storage_use()

    def log_totals(self) -> None:
        uses = self.usage()
        for use in [u for u in uses if u.repository is None]:
            log.info("storage: %s", describe(use))
        repos = sorted((u for u in uses if u.repository is not None), key=lambda u: -u.total_bytes)
        for use in repos[:LOGGED_REPOSITORIES]:
            log.info("storage: %s", describe(use))


def describe(use: StorageUse) -> str:
    owner = f"account {use.account_id}" if use.repository is None else (
        f"repository {use.account_id}/{use.repository}")
    shared = use.total_bytes - use.unique_bytes
    return (f"{owner}: {use.total_bytes} bytes in {use.blobs} blobs "
            f"({use.unique_bytes} unique, {shared} shared)")


def table(uses: list[StorageUse]) -> str:
    """The `dockyard storage` table: accounts, each followed by its repositories."""
    rows = [("ACCOUNT", "REPOSITORY", "BLOBS", "BYTES", "UNIQUE", "SHARED")]
    accounts = [u for u in uses if u.repository is None]
    for account in accounts:
        members = [u for u in uses if u.account_id == account.account_id and u.repository]
        for use in [account, *members]:
            rows.append((use.account_id, use.repository or "(all)", str(use.blobs),
                         str(use.total_bytes), str(use.unique_bytes),
                         str(use.total_bytes - use.unique_bytes)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
