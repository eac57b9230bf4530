"""A SQLite metadata store holding N images whose inventories are cached, for the rescan figure.

    ScanFixture.create(dir, inventories, vulndb dir)
        one repository, one OCI image per inventory (distinct manifests naming blobs that were
        never uploaded: any layer read would fail the scan), its inventory in the cache as
        services/scan_inventory.py writes it, an ENHANCED scan record (status ACTIVE)
    .service()   the real ScanService: SqlMetadataStore, FilesystemBlobStore (empty, reads
                 counted), OsvScanner on the vulndb directory; store and scanner wrapped in
                 Timed proxies that add up the seconds spent in each method
    .rescan()    rescan_enhanced(), then work_once() until the queue is empty: (jobs queued,
                 work_once calls that ran some)
    .check(t0)   every image re-scanned after t0: statuses, findings

Rows are written with the store's own functions (`_images.save_image`, `_scans.put_inventory`,
`_scans.put_scan`), many per transaction, as ecr_fill.py does.
"""

from __future__ import annotations

import collections
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockbench.scan_phases import CountingBlobs
from dockyard.backends.blobs.fs.store import FilesystemBlobStore
from dockyard.backends.metadata import _images, _scans
from dockyard.backends.metadata.sql import SqlMetadataStore
from dockyard.backends.scanner.engine import OsvScanner
from dockyard.domain.manifests import parse_manifest
from dockyard.domain.models import NewImage, ScanRecord
from dockyard.domain.scanning import Inventory
from dockyard.services.clock import SystemClock
from dockyard.services.image_queries import ImageQueries
from dockyard.services.repositories import RepositoryService
from dockyard.services.scan_config import ScanConfigService
from dockyard.services.scan_inventory import inventory_to_json
from dockyard.services.scanning import ScanService

ACCOUNT = "123456789012"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Timed:
    """Forwards every method call to `inner`, adding its duration to `seconds[name]`."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seconds: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return target(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
                self.calls[name] += 1

        return timed


def manifest_for(i: int) -> bytes:
    """A distinct OCI manifest per image; its config and layer were never uploaded."""
    fake = [hashlib.sha256(f"{kind}-{i}".encode()).hexdigest() for kind in ("config", "layer")]
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": f"sha256:{fake[0]}", "size": 1469},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": f"sha256:{fake[1]}", "size": 31_000_000}],
    }  # fmt: skip
    return json.dumps(document, separators=(",", ":")).encode()


def new_image(body: bytes) -> NewImage:
    manifest = parse_manifest(body, OCI_MANIFEST)
    return NewImage(
        digest="sha256:" + hashlib.sha256(body).hexdigest(), manifest=body,
        media_type=manifest.media_type, artifact_media_type=manifest.artifact_media_type,
        size_bytes=manifest.own_size, subject_digest=None, child_digests=(),
        blob_digests=tuple(str(d) for d in manifest.blob_digests),
    )  # fmt: skip


@dataclass
class ScanFixture:
    meta: SqlMetadataStore
    root: Path
    vulndb: Path
    image_ids: list[int]
    clock: SystemClock = field(default_factory=SystemClock)
    blobs: CountingBlobs | None = None
    timed_meta: Timed | None = None
    timed_scanner: Timed | None = None

    @classmethod
    def create(cls, root: Path, inventories: list[Inventory], vulndb: Path) -> ScanFixture:
        root.mkdir(parents=True, exist_ok=True)
        meta = SqlMetadataStore(f"sqlite:///{root / 'dockyard.db'}", create=True)
        clock = SystemClock()
        repo = meta.create_repository(ACCOUNT, "bench/rescan", clock.now())
        ids = []
        for start in range(0, len(inventories), 500):
            with meta._write() as conn:
                for i in range(start, min(start + 500, len(inventories))):
                    new, now = new_image(manifest_for(i)), clock.now()
                    saved = _images.save_image(conn, repo.id, new, f"v{i}", True, now)
                    _scans.put_inventory(conn, new.digest, inventory_to_json(inventories[i]))
                    _scans.put_scan(conn, ScanRecord(saved.image.id, "ENHANCED", "ACTIVE",
                                                     "Continuous scan is selected for image.",
                                                     now, completed_at=now))  # fmt: skip
                    ids.append(saved.image.id)
        return cls(meta, root, vulndb, ids, clock)

    def service(self) -> ScanService:
        store = FilesystemBlobStore(self.root / "blobs")
        store.probe()
        self.blobs = CountingBlobs(store)
        self.timed_meta, self.timed_scanner = Timed(self.meta), Timed(OsvScanner(self.vulndb))
        repos = RepositoryService(self.timed_meta, self.clock, False)  # type: ignore[arg-type]
        queries = ImageQueries(self.timed_meta, repos, b"k" * 32)  # type: ignore[arg-type]
        return ScanService(
            self.timed_meta,
            self.blobs,
            self.timed_scanner,
            queries,  # type: ignore[arg-type]
            ScanConfigService(self.timed_meta),
            self.clock,
        )  # type: ignore[arg-type]

    @staticmethod
    def rescan(service: ScanService) -> tuple[int, int]:
        queued, jobs = service.rescan_enhanced(), 0
        while service.work_once("scan-bench"):
            jobs += 1
        return queued, jobs

    def check(self, t0: float) -> dict:
        """Statuses of the images' scans and their findings (each must be re-done after t0)."""
        scans = self.meta.scans_for(self.image_ids)
        statuses = collections.Counter(s.status for s in scans.values())
        stale = sum(1 for s in scans.values() if (s.completed_at or 0) < t0)
        findings = sum(sum(s.severity_counts.values()) for s in scans.values())
        timing = {
            "meta_s": dict(self.timed_meta.seconds),
            "meta_calls": dict(self.timed_meta.calls),
            "scanner_s": dict(self.timed_scanner.seconds),
        }  # type: ignore[union-attr]
        return {"statuses": dict(statuses), "not_rescanned": stale, "findings_total": findings,
                "db_mb": sum(p.stat().st_size for p in self.root.glob("dockyard.db*")) / 1e6,
                } | timing  # fmt: skip

    def close(self) -> None:
        self.meta.close()
