"""The VulnerabilityScanner port, assembled from the inventory readers and the OSV index.

The index lives in `<data-dir>/vulndb.sqlite`, written by `dockyard vulndb import`; a running
server notices a new import through the index's generation and uses it without a restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.domain.scanning import Finding, Inventory
from dockyard.ports import BlobStore

if TYPE_CHECKING:  # imported lazily at run time (see _index)
    from dockyard.backends.scanner.osv_index import VulnIndex


class OsvScanner:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._opened: VulnIndex | None = None

    def inventory(self, manifest: bytes, media_type: str, blobs: BlobStore) -> Inventory:
        from dockyard.backends.scanner.inventory import Limits, build_inventory

        return build_inventory(manifest, media_type, blobs.read, Limits())

    def match(self, inventory: Inventory, enhanced: bool, ordered: bool = True) -> list[Finding]:
        from dockyard.backends.scanner.matcher import match

        return match(inventory, self._index(), enhanced, ordered=ordered)

    def source_updated_at(self) -> float | None:
        return self._index().source_updated_at()

    def generation(self) -> str:
        return self._index().generation()

    def _index(self):
        # Opened once (open_index resolves the path, a few syscalls a scan otherwise); the index
        # itself notices a new import (its callers refresh it).
        if self._opened is None:
            from dockyard.backends.scanner.osv_index import open_index

            self._opened = open_index(self.data_dir)
        return self._opened
