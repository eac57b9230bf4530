"""The scan lifecycle: when images are scanned, by whom, and what callers see meanwhile.

    push ──(scan on push?)──┐
    StartImageScan ─────────┼──► job queued, status IN_PROGRESS (enhanced: PENDING)
                            ▼
    worker claims the job ─► inventory (cached per digest) ─► match ─► COMPLETE / ACTIVE
                                       │                                (FAILED + reason)
    vulnerability data changes ────────┘ enhanced images are re-matched, no layer I/O

Jobs go through the metadata store, so with several server processes each scan runs once.

Findings are stored as one JSON document per distinct finding, shared by scans (ScanStore.put_scan).
The matcher hands the same Finding objects to every image with the same packages, so a rescan makes
each one's JSON once (FindingDocuments) and stores an image's findings as keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, fields
from operator import attrgetter, itemgetter
from typing import Any

from dockyard.domain.errors import ImageArchived, LimitExceeded, ScanNotFound, Unsupported
from dockyard.domain.models import Image, Repository, ScanRecord
from dockyard.domain.page_tokens import Pager
from dockyard.domain.scanning import UNSUPPORTED_IMAGE, Finding, Package, ScanFailed
from dockyard.ports import (
    DOCUMENT_GRACE,
    DOCUMENT_REUSE,
    BlobStore,
    MetadataStore,
    VulnerabilityScanner,
)
from dockyard.services.clock import Clock
from dockyard.services.events import EventPublisher
from dockyard.services.image_queries import ImageId, ImageQueries
from dockyard.services.scan_backfill import queue_existing_images
from dockyard.services.scan_config import ScanConfigService, rule_for
from dockyard.services.scan_inventory import load_or_build_inventory

log = logging.getLogger("dockyard.scanning")

SCAN_JOB = "scan"
DAY = 24 * 3600
DESCRIPTIONS = {
    "IN_PROGRESS": "The scan is in progress.",
    "PENDING": "Enhanced scan is pending.",
    "COMPLETE": "The scan was completed successfully.",
    "ACTIVE": "Continuous scan is selected for image.",
}
DEFAULT_PAGE = 100
JOB_LEASE_SECONDS = 600
# Jobs a worker takes at once: a rescan queues one per image, and claiming, finishing and reading
# the previous scans a few at a time saves three transactions per image. Small, so that other
# processes still get a share of a long queue, and a lease covers the whole batch.
JOBS_PER_CLAIM = 8
# A rescan of a fleet reports tens of thousands of distinct findings (benchmarks/README.md,
# scan_bench.py); past this many the cache starts again rather than grow with every update.
DOCUMENT_CACHE_LIMIT = 50_000
SWEEP_EVERY = 3600.0  # seconds between sweeps of unreferenced finding documents, per process


@dataclass(frozen=True)
class FindingsPage:
    repo: Repository
    image: Image
    scan: ScanRecord
    findings: list[Finding]
    next_token: str | None


class ScanService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        scanner: VulnerabilityScanner,
        queries: ImageQueries,
        config: ScanConfigService,
        clock: Clock,
        events: EventPublisher | None = None,
    ) -> None:
        self.meta, self.blobs, self.scanner = meta, blobs, scanner
        self.events = events or EventPublisher(meta, (), clock, "")
        self.queries, self.config, self.clock = queries, config, clock
        self._seen_generation: str | None = None
        self._documents = FindingDocuments()
        self._swept_at: float | None = None

    # -- triggers -----------------------------------------------------------------------------

    def on_push(self, repo: Repository, image: Image) -> None:
        """Queue a scan when the repository or the registry configuration asks for one."""
        if image.media_type.endswith(("index.v1+json", "list.v2+json")):
            return  # ECR scans each platform's image, not the index
        config = self.config.get(repo.account_id)
        rule = rule_for(config, repo)
        frequency = rule.get("scanFrequency") if rule else None
        if config["scanType"] == "ENHANCED" and frequency in ("SCAN_ON_PUSH", "CONTINUOUS_SCAN"):
            self._queue(image, "ENHANCED")
        elif repo.scan_on_push or frequency == "SCAN_ON_PUSH":
            self._queue(image, "BASIC")

    def start(
        self, account_id: str, name: str, image_id: ImageId
    ) -> tuple[Repository, Image, ScanRecord]:
        """StartImageScan: a basic scan, at most one per image per 24 hours."""
        repo, [image] = self.queries.lookup(account_id, name, [image_id])
        if image.status != "ACTIVE":
            raise ImageArchived("The image is archived and cannot be scanned; restore it first")
        if self.config.scan_type(account_id) == "ENHANCED":
            raise Unsupported(
                "StartImageScan is for basic scanning; this registry uses "
                "enhanced (continuous) scanning"
            )
        last = self.meta.scans_for([image.id]).get(image.id)  # the summary: no findings
        if last and last.scan_type == "BASIC" and self.clock.now() - last.started_at < DAY:
            raise LimitExceeded("The scan quota per image has been exceeded. Wait and try again.")
        return repo, image, self._queue(image, "BASIC")

    def configure(
        self, account_id: str, scan_type: str, rules: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """PutRegistryScanningConfiguration; turning enhanced scanning on scans what exists."""
        config = self.config.put(account_id, scan_type, rules)
        if scan_type == "ENHANCED":
            queue_existing_images(
                self.meta, config, account_id, lambda image: self._queue(image, "ENHANCED")
            )
        return config

    def _queue(self, image: Image, scan_type: str) -> ScanRecord:
        status = "PENDING" if scan_type == "ENHANCED" else "IN_PROGRESS"
        record = ScanRecord(image.id, scan_type, status, DESCRIPTIONS[status], self.clock.now())
        self.meta.put_scan(record)
        payload = json.dumps(
            {
                "image_id": image.id,
                "repo_id": image.repo_id,
                "digest": image.digest,
                "type": scan_type,
            }
        )
        self.meta.enqueue_job(SCAN_JOB, payload, self.clock.now())
        return record

    # -- results ------------------------------------------------------------------------------

    def findings(
        self,
        account_id: str,
        name: str,
        image_id: ImageId,
        token: str | None,
        max_results: int | None,
    ) -> FindingsPage:
        repo, [image] = self.queries.lookup(account_id, name, [image_id])
        scan = self.meta.get_scan(image.id)
        if scan is None:
            raise ScanNotFound(
                f"Image scan does not exist for the image with '{image_id.describe()}' in the "
                f"repository with name '{name}' in the registry with id '{account_id}'"
            )
        found = [finding_from_dict(d) for d in json.loads(scan.findings_json)]
        pager = Pager(
            self.queries.token_key,
            {"op": "DescribeImageScanFindings", "image": image.id, "at": scan.started_at},
        )
        page, more = pager.window(found, token, max_results or DEFAULT_PAGE, field="i")
        return FindingsPage(repo, image, scan, page, more)

    def summaries(self, image_ids: list[int]) -> dict[int, ScanRecord]:
        return self.meta.scans_for(image_ids)

    # -- work ---------------------------------------------------------------------------------

    def work_once(self, worker: str) -> bool:
        """Claim and run a few queued jobs; False when there was none."""
        jobs = self.meta.claim_jobs(worker, self.clock.now(), JOB_LEASE_SECONDS, JOBS_PER_CLAIM)
        if not jobs:
            self._sweep()
            return False
        tasks = [json.loads(job.payload) for job in jobs if job.kind == SCAN_JOB]
        # A scan keeps the start time of the one it replaces: read them all at once.
        previous = self.meta.scans_for([task["image_id"] for task in tasks])
        for task in tasks:
            last = previous.get(task["image_id"])
            self.run(task, last.started_at if last else None)
        self.meta.finish_jobs([job.id for job in jobs])
        return True

    def follow_data_changes(self) -> int:
        """Re-match enhanced images once per change of the vulnerability data."""
        generation = self.scanner.generation()
        if generation == self._seen_generation:
            return 0
        first_look = self._seen_generation is None
        self._seen_generation = generation
        self._documents.clear()  # the old data's findings will not come back
        # At start-up every process sees "a change"; only real changes cause rescans.
        return 0 if first_look else self.rescan_enhanced()

    def run(self, task: dict[str, Any], started_at: float | None) -> None:
        """Carry out one scan job; every failure ends in a FAILED status with a reason.

        `started_at` is the start time of the image's last scan (None if it has none)."""
        image = self.meta.get_image(task["repo_id"], task["digest"], with_manifest=True)
        if image is None:
            return  # deleted while queued
        started = self.clock.now() if started_at is None else started_at
        keys: list[str] = []
        documents: dict[str, str] = {}
        try:
            record, keys, documents = self._scan(image, task["type"], started)
        except ScanFailed as exc:
            record = self._failed(image, task["type"], started, str(exc))
        except Exception as exc:  # a broken image must never kill the worker
            log.exception("scan of %s failed", image.digest)
            reason = f"ScanError: {type(exc).__name__}"
            record = self._failed(image, task["type"], started, reason)
        with self.meta.atomic():  # the scan and its event commit together
            self.meta.put_scan(record, keys, documents)
            self.events.scan_finished(image, record)
        # The store dates the documents' use by the scan's completion time: so do we.
        self._documents.stored(documents, record.completed_at or started)

    def _scan(
        self, image: Image, scan_type: str, started: float
    ) -> tuple[ScanRecord, list[str], dict[str, str]]:
        enhanced = scan_type == "ENHANCED"
        inventory = load_or_build_inventory(self.meta, self.scanner, self.blobs, image)
        if inventory.distro is None and not (enhanced and inventory.packages):
            raise ScanFailed(UNSUPPORTED_IMAGE)
        found = self.scanner.match(inventory, enhanced, ordered=False)  # prepare() sorts
        status, now = ("ACTIVE" if enhanced else "COMPLETE"), self.clock.now()
        record = ScanRecord(
            image.id, scan_type, status, DESCRIPTIONS[status], started,
            completed_at=now, source_updated_at=self.scanner.source_updated_at(),
            severity_counts=severity_counts(found),
        )  # fmt: skip
        return record, *self._documents.prepare(found, now)

    def _failed(self, image: Image, scan_type: str, started: float, reason: str) -> ScanRecord:
        return ScanRecord(image.id, scan_type, "FAILED", reason, started,
                          completed_at=self.clock.now())  # fmt: skip

    def _sweep(self) -> None:
        """Delete finding documents left by replaced scans and deleted images, now and then."""
        now = self.clock.now()
        if self._swept_at is not None and now - self._swept_at < SWEEP_EVERY:
            return
        self._swept_at = now
        self.meta.delete_unused_findings(now - DOCUMENT_GRACE)

    def rescan_enhanced(self) -> int:
        """Queue a re-match of every enhanced image (after the vulnerability data changed)."""
        queued, after = 0, 0
        while found := self.meta.scanned_images("ENHANCED", after, 500):
            payloads = [
                json.dumps(
                    {"image_id": image_id, "repo_id": repo_id, "digest": digest, "type": "ENHANCED"}
                )
                for image_id, repo_id, digest in found
            ]
            self.meta.enqueue_jobs(SCAN_JOB, payloads, self.clock.now())
            queued, after = queued + len(found), found[-1][0]
        return queued


class FindingDocuments:
    """Each finding's stored form: its key, and its JSON while the store may not have it.

    A rescan reports the same Finding objects for many images (the matcher's memo), so the JSON
    and sort key of each are made once, keyed by id() (a Finding holds a dict, so it is not
    hashable; the entry holds the finding, so its id cannot be reused while cached). A document
    is passed to put_scan again once DOCUMENT_REUSE seconds may have passed since it was stored
    (see ScanStore.put_scan): `_fresh` holds the keys stored since `_fresh_since`, and is
    emptied when that is DOCUMENT_REUSE ago.
    """

    def __init__(self, limit: int = DOCUMENT_CACHE_LIMIT) -> None:
        self.limit = limit
        # id(finding) -> (finding, sort key, document key, JSON)
        self._entries: dict[int, tuple[Finding, tuple[int, str, str, str, str], str, str]] = {}
        self._texts: dict[str, str] = {}  # document key -> JSON
        self._fresh: set[str] = set()
        self._fresh_since = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def prepare(self, found: list[Finding], now: float) -> tuple[list[str], dict[str, str]]:
        """The findings' keys in ECR's order (most severe first, then id and package name), and
        the documents put_scan must be given with them."""
        if len(self._entries) > self.limit:
            self.clear()
        if now - self._fresh_since >= DOCUMENT_REUSE:
            self._fresh.clear()
        # map() and itemgetter keep the per-finding work in C: a rescan has hundreds of thousands.
        entries: list[Any] = list(map(self._entries.get, map(id, found)))
        if None in entries:
            entries = [e or self._add(f) for e, f in zip(entries, found, strict=True)]
        entries.sort(key=itemgetter(1))  # stable: full ties keep the matcher's order
        keys = list(map(itemgetter(2), entries))
        return keys, {key: self._texts[key] for key in set(keys) - self._fresh}

    def _add(self, finding: Finding) -> tuple[Finding, tuple[int, str, str, str, str], str, str]:
        text = json.dumps(finding_to_dict(finding))
        entry = (finding, _severity_order(finding), document_key(text), text)
        self._entries[id(finding)] = entry
        self._texts[entry[2]] = text
        return entry

    def stored(self, documents: dict[str, str], now: float) -> None:
        """Note that a put_scan given these documents returned (so they are in the store)."""
        if documents:
            if not self._fresh or now - self._fresh_since >= DOCUMENT_REUSE:
                self._fresh.clear()
                self._fresh_since = now
            self._fresh.update(documents)

    def clear(self) -> None:
        self._entries.clear()
        self._texts.clear()
        self._fresh.clear()


def severity_counts(findings: list[Finding]) -> dict[str, int]:
    """Findings per severity, most severe first (the order findingSeverityCounts has always
    had: counted over the sorted findings); counted in C, as a rescan has hundreds of thousands."""
    counts = Counter(map(attrgetter("severity"), findings))
    return dict(sorted(counts.items(), key=lambda item: _ORDER.get(item[0], 99)))


_ORDER = {
    s: i for i, s in enumerate(("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"))
}


def _severity_order(finding: Finding) -> tuple[int, str, str, str, str]:
    # ECR's order: severity, id, package name. Ties are broken as the matcher orders findings
    # (source package, then file path), which this sort once followed: the same order either way.
    package = finding.package
    return (_ORDER.get(finding.severity, 99), finding.id, package.name,
            package.source_name or package.name, package.file_path)  # fmt: skip


def document_key(text: str) -> str:
    """The key a finding's JSON is stored under: 96 bits of its SHA-256 in 16 base64url
    characters (a scan stores one per finding), so equal keys mean equal text: two of a billion
    documents collide with odds of about 1e-11. The same function as migration 0003's."""
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()[:12]).decode()


_FINDING_FIELDS = tuple(f.name for f in fields(Finding))
_PACKAGE_FIELDS = tuple(f.name for f in fields(Package))


def finding_to_dict(finding: Finding) -> dict[str, object]:
    # Field by field: dataclasses.asdict deep-copies every value and was half of a rescan's CPU.
    data = {name: getattr(finding, name) for name in _FINDING_FIELDS}
    data["package"] = {name: getattr(finding.package, name) for name in _PACKAGE_FIELDS}
    data["aliases"] = list(finding.aliases)
    data["cvss"] = dict(finding.cvss)
    return data


def finding_from_dict(data: dict[str, Any]) -> Finding:
    values = dict(data)
    values["package"] = Package(**values["package"])
    values["aliases"] = tuple(values.get("aliases", ()))
    values["references"] = tuple(values.get("references", ()))
    return Finding(**values)
