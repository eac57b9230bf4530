"""Stored findings: each distinct finding serialised once, the text a scan had before, and the
scan service's whole path (claim, match, store, page, sweep) on a real SQLite store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.contract.metadata_support import make_image

from dockyard.backends.metadata.schema import finding_documents
from dockyard.backends.metadata.sql import SqlMetadataStore
from dockyard.backends.scanner.matcher import _order
from dockyard.domain.scanning import SEVERITIES, Distro, Finding, Inventory, Package
from dockyard.ports import DOCUMENT_GRACE, DOCUMENT_REUSE, BlobStore
from dockyard.services.clock import FixedClock
from dockyard.services.image_queries import ImageId, ImageQueries
from dockyard.services.repositories import RepositoryService
from dockyard.services.scan_config import ScanConfigService
from dockyard.services.scan_inventory import inventory_to_json
from dockyard.services.scanning import (
    FindingDocuments,
    ScanService,
    _severity_order,
    finding_to_dict,
)

DEBIAN = Distro("debian", "12", "Debian:12")
TAR = Package("Debian:12", "tar", "1.34", package_manager="dpkg")
LIBC = Package("Debian:12", "libc6", "2.36", source_name="glibc", package_manager="dpkg")
LIBC_BIN = Package("Debian:12", "libc-bin", "2.36", source_name="glibc", package_manager="dpkg")


def finding(cve: str, package: Package, severity: str = "HIGH") -> Finding:
    return Finding(cve, package, severity, description=f"{cve} in {package.name} \u2013 \"x\"",
                   aliases=("DSA-1",), cvss={"CVSS3_SCORE": "7.5"}, references=("https://a",))  # fmt: skip


SHARED = [finding("CVE-2", LIBC_BIN), finding("CVE-2", LIBC), finding("CVE-1", TAR, "LOW"),
          finding("CVE-3", TAR, "CRITICAL")]  # fmt: skip


def old_text(found: list[Finding]) -> str:
    """What a scan stored before findings were shared: one JSON array, of the matcher's order
    sorted again by severity, id and package name."""
    ordered = sorted(sorted(found, key=_order), key=lambda f: (
        SEVERITIES.index(f.severity), f.id, f.package.name))  # fmt: skip
    return json.dumps([finding_to_dict(f) for f in ordered])


def joined(keys: list[str], texts: dict[str, str]) -> str:
    return "[" + ", ".join(texts[key] for key in keys) + "]"


def test_documents_join_into_the_text_a_scan_had() -> None:
    documents, texts = FindingDocuments(), {}
    for found in (SHARED, SHARED[1:], SHARED[::-1], []):
        keys, new = documents.prepare(found, 0.0)
        texts.update(new)
        assert joined(keys, texts) == old_text(list(found))
    assert len(documents) == len(SHARED)  # each Finding object serialised once
    # Equal findings that are distinct objects have one key (the key is the text's hash).
    twin = finding("CVE-1", TAR, "LOW")
    assert documents.prepare([twin], 0.0)[0] == documents.prepare([SHARED[2]], 0.0)[0]


def test_one_sort_gives_the_order_of_the_two_it_replaced() -> None:
    """Ties on (severity, id, package name) are broken by source package and file path."""
    npm = [Package("npm", "lodash", "4.17.15", file_path=f"app/{d}/node_modules/lodash")
           for d in ("b", "a", "c")]  # fmt: skip
    debs = [Package("Debian:12", "libx", "1", source_name=src, package_manager="dpkg")
            for src in ("zlib", "alib")]  # fmt: skip
    found = [finding("CVE-9", p) for p in npm + debs] + SHARED
    for shuffled in (found, found[::-1], found[3:] + found[:3]):
        keys, texts = FindingDocuments().prepare(shuffled, 0.0)
        assert joined(keys, texts) == old_text(shuffled)


def test_documents_are_passed_again_only_after_the_reuse_window() -> None:
    documents = FindingDocuments()
    keys, new = documents.prepare(SHARED, 100.0)
    assert set(new) == set(keys)
    assert documents.prepare(SHARED, 100.0)[1] == new  # not stored yet: passed again
    documents.stored(new, 100.0)
    assert documents.prepare(SHARED, 100.0 + DOCUMENT_REUSE - 1)[1] == {}
    assert documents.prepare(SHARED, 100.0 + DOCUMENT_REUSE)[1] == new
    documents.clear()
    assert documents.prepare(SHARED, 100.0)[1] == new


def test_the_cache_starts_again_past_its_limit() -> None:
    documents = FindingDocuments(limit=2)
    texts: dict[str, str] = {}
    for found in (SHARED, SHARED[:1], SHARED):
        keys, new = documents.prepare(found, 0.0)
        texts.update(new)
        documents.stored(new, 0.0)
        assert joined(keys, texts) == old_text(found)
    assert len(documents) <= len(SHARED)


# -- the service on a real store ---------------------------------------------------------------


class FixedScanner:
    """A VulnerabilityScanner whose findings per image are given (the same objects each time,
    as the matcher's memo hands them out)."""

    def __init__(self, findings: dict[int, list[Finding]]) -> None:
        self.findings = findings

    def inventory(self, manifest: bytes, media_type: str, blobs: BlobStore) -> Inventory:
        raise AssertionError("inventories are cached: no layer is read")

    def match(self, inventory: Inventory, enhanced: bool, ordered: bool = True) -> list[Finding]:
        found = list(self.findings[len(inventory.packages)])
        return sorted(found, key=_order) if ordered else found[::-1]

    def source_updated_at(self) -> float | None:
        return 1_600_000_000.0

    def generation(self) -> str:
        return "g1"


def documents(store: SqlMetadataStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(finding_documents)).scalar_one()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}", create=True)
    yield store
    store.close()


def test_rescan_stores_shared_findings_and_pages_them(store: SqlMetadataStore) -> None:
    clock = FixedClock()
    repos = RepositoryService(store, clock, False)
    repo = store.create_repository("123456789012", "app", clock.now())
    images = []
    for n in (1, 2, 3):  # image n has n packages, so the scanner knows which findings it has
        new = make_image(f"img{n}")
        images.append(store.save_image(repo.id, new, f"v{n}", False, clock.now()).image)
        store.put_inventory(new.digest, inventory_to_json(Inventory(DEBIAN, (TAR,) * n)))
    found = {1: SHARED, 2: SHARED[:2], 3: []}
    service = ScanService(
        store,
        None,
        FixedScanner(found),
        ImageQueries(store, repos, b"k" * 32),
        ScanConfigService(store),
        clock,
    )  # type: ignore[arg-type]
    for image in images:
        service._queue(image, "ENHANCED")
    started = clock.now()
    clock.advance(10)
    assert service.work_once("w") and not service.work_once("w")
    for image, n in zip(images, (1, 2, 3), strict=True):
        scan = store.get_scan(image.id)
        assert (scan.status, scan.started_at, scan.completed_at) == (
            "ACTIVE",
            started,
            started + 10,
        )
        assert scan.findings_json == old_text(found[n])
        counts = store.scans_for([image.id])[image.id].severity_counts
        expected = {"CRITICAL": 1, "HIGH": 2, "LOW": 1} if n == 1 else {"HIGH": 2} if n == 2 else {}
        assert list(counts.items()) == list(expected.items())  # most severe first, as ever
    # DescribeImageScanFindings pages over the same findings in the same order.
    first = service.findings("123456789012", "app", ImageId(digest=images[0].digest), None, 3)
    rest = service.findings("123456789012", "app", ImageId(digest=images[0].digest),
                            first.next_token, 3)  # fmt: skip
    assert first.findings + rest.findings == sorted(SHARED, key=_severity_order)
    assert rest.next_token is None
    # Rescanned within the reuse window: the documents are named, not sent again, and the
    # findings read back the same.
    service.rescan_enhanced()
    while service.work_once("w"):
        pass
    assert store.get_scan(images[0].id).findings_json == old_text(SHARED)
    # An image deleted: its findings' documents outlive it until a sweep, DOCUMENT_GRACE later.
    store.delete_image(repo.id, images[0].digest)
    assert store.delete_unused_findings(clock.now()) == 0  # just used
    assert documents(store) == len(SHARED)
    clock.advance(DOCUMENT_GRACE + 1)
    assert not service.work_once("w")  # an idle worker sweeps (an hour after its last sweep)
    assert documents(store) == 2  # the two findings only the deleted image had are gone
    assert store.get_scan(images[1].id).findings_json == old_text(found[2])
