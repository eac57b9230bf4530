"""The scan lifecycle: when images are scanned, by whom, and what callers see meanwhile.

    push ──(scan on push?)──┐
    StartImageScan ─────────┼──► job queued, status IN_PROGRESS (enhanced: PENDING)
                            ▼
    worker claims the job ─► inventory (cached per digest) ─► match ─► COMPLETE / ACTIVE
                                       │                                (FAILED + reason)
    vulnerability data changes ────────┘ enhanced images are re-matched, no layer I/O

Jobs go through the metadata store, so with several server processes each scan runs once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields

from dockyard.domain.errors import LimitExceeded, ScanNotFound, Unsupported
from dockyard.domain.models import Image, Job, Repository, ScanRecord
from dockyard.domain.page_tokens import decode_token, encode_token
from dockyard.domain.scanning import UNSUPPORTED_IMAGE, Finding, Package, ScanFailed
from dockyard.ports import BlobStore, MetadataStore, VulnerabilityScanner
from dockyard.services.clock import Clock
from dockyard.services.image_queries import ImageId, ImageQueries
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


@dataclass(frozen=True)
class FindingsPage:
    repo: Repository
    image: Image
    scan: ScanRecord
    findings: list[Finding]
    next_token: str | None


class ScanService:
    def __init__(self, meta: MetadataStore, blobs: BlobStore, scanner: VulnerabilityScanner,
                 queries: ImageQueries, config: ScanConfigService, clock: Clock) -> None:
        self.meta, self.blobs, self.scanner = meta, blobs, scanner
        self.queries, self.config, self.clock = queries, config, clock
        self._seen_generation: str | None = None

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

    def start(self, account_id: str, name: str, image_id: ImageId) -> tuple[Repository, Image,
                                                                              ScanRecord]:
        """StartImageScan: a basic scan, at most one per image per 24 hours."""
        repo, [image] = self.queries.lookup(account_id, name, [image_id])
        if image.status != "ACTIVE":
            raise Unsupported("The image is archived and cannot be scanned; restore it first")
        if self.config.scan_type(account_id) == "ENHANCED":
            raise Unsupported("StartImageScan is for basic scanning; this registry uses "
                              "enhanced (continuous) scanning")
        last = self.meta.get_scan(image.id)
        if last and last.scan_type == "BASIC" and self.clock.now() - last.started_at < DAY:
            raise LimitExceeded("The scan quota per image has been exceeded. Wait and try again.")
        return repo, image, self._queue(image, "BASIC")

    def _queue(self, image: Image, scan_type: str) -> ScanRecord:
        status = "PENDING" if scan_type == "ENHANCED" else "IN_PROGRESS"
        record = ScanRecord(image.id, scan_type, status, DESCRIPTIONS[status], self.clock.now())
        self.meta.put_scan(record)
        payload = json.dumps({"image_id": image.id, "repo_id": image.repo_id,
                              "digest": image.digest, "type": scan_type})
        self.meta.enqueue_job(SCAN_JOB, payload, self.clock.now())
        return record

    # -- results ------------------------------------------------------------------------------

    def findings(self, account_id: str, name: str, image_id: ImageId, token: str | None,
                 max_results: int | None) -> FindingsPage:
        repo, [image] = self.queries.lookup(account_id, name, [image_id])
        scan = self.meta.get_scan(image.id)
        if scan is None:
            raise ScanNotFound(
                f"Image scan does not exist for the image with '{image_id.describe()}' in the "
                f"repository with name '{name}' in the registry with id '{account_id}'"
            )
        found = [finding_from_dict(d) for d in json.loads(scan.findings_json)]
        scope = {"op": "DescribeImageScanFindings", "image": image.id, "at": scan.started_at}
        start = decode_token(self.queries.token_key, token, scope)["i"] if token else 0
        end = start + (max_results or DEFAULT_PAGE)
        more = encode_token(self.queries.token_key, scope, {"i": end}) if end < len(found) else None
        return FindingsPage(repo, image, scan, found[start:end], more)

    def summaries(self, image_ids: list[int]) -> dict[int, ScanRecord]:
        return self.meta.scans_for(image_ids)

    # -- work ---------------------------------------------------------------------------------

    def work_once(self, worker: str) -> bool:
        """Claim and run one queued job; False when there was none."""
        job = self.meta.claim_job(worker, self.clock.now(), JOB_LEASE_SECONDS)
        if job is None:
            return False
        if job.kind == SCAN_JOB:
            self.run(job)
        self.meta.finish_job(job.id)
        return True

    def follow_data_changes(self) -> int:
        """Re-match enhanced images once per change of the vulnerability data."""
        generation = self.scanner.generation()
        if generation == self._seen_generation:
            return 0
        first_look = self._seen_generation is None
        self._seen_generation = generation
        # At start-up every process sees "a change"; only real changes cause rescans.
        return 0 if first_look else self.rescan_enhanced()

    def run(self, job: Job) -> None:
        """Carry out one scan job; every failure ends in a FAILED status with a reason."""
        task = json.loads(job.payload)
        image = self.meta.get_image(task["repo_id"], task["digest"], with_manifest=True)
        if image is None:
            return  # deleted while queued
        try:
            record = self._scan(image, task["type"])
        except ScanFailed as exc:
            record = self._failed(image, task["type"], str(exc))
        except Exception as exc:  # a broken image must never kill the worker
            log.exception("scan of %s failed", image.digest)
            record = self._failed(image, task["type"], f"ScanError: {type(exc).__name__}")
        self.meta.put_scan(record)

    def _scan(self, image: Image, scan_type: str) -> ScanRecord:
        enhanced = scan_type == "ENHANCED"
        inventory = load_or_build_inventory(self.meta, self.scanner, self.blobs, image)
        if inventory.distro is None and not (enhanced and inventory.packages):
            raise ScanFailed(UNSUPPORTED_IMAGE)
        found = sorted(self.scanner.match(inventory, enhanced), key=_severity_order)
        status = "ACTIVE" if enhanced else "COMPLETE"
        return ScanRecord(
            image.id, scan_type, status, DESCRIPTIONS[status], self._started(image),
            completed_at=self.clock.now(), source_updated_at=self.scanner.source_updated_at(),
            severity_counts=severity_counts(found),
            findings_json=json.dumps([finding_to_dict(f) for f in found]),
        )

    def _failed(self, image: Image, scan_type: str, reason: str) -> ScanRecord:
        return ScanRecord(image.id, scan_type, "FAILED", reason, self._started(image),
                          completed_at=self.clock.now())

    def _started(self, image: Image) -> float:
        # The summary read leaves the (possibly large) findings in the database.
        last = self.meta.scans_for([image.id]).get(image.id)
        return last.started_at if last else self.clock.now()

    def rescan_enhanced(self) -> int:
        """Queue a re-match of every enhanced image (after the vulnerability data changed)."""
        queued, after = 0, 0
        while found := self.meta.scanned_images("ENHANCED", after, 500):
            for image_id, repo_id, digest in found:
                payload = json.dumps({"image_id": image_id, "repo_id": repo_id,
                                      "digest": digest, "type": "ENHANCED"})
                self.meta.enqueue_job(SCAN_JOB, payload, self.clock.now())
            queued, after = queued + len(found), found[-1][0]
        return queued


def severity_counts(findings: list[Finding]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return counts


_ORDER = {s: i for i, s in enumerate(("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL",
                                      "UNDEFINED"))}


def _severity_order(finding: Finding) -> tuple[int, str, str]:
    return _ORDER.get(finding.severity, 99), finding.id, finding.package.name


def finding_to_dict(finding: Finding) -> dict[str, object]:
    # Field by field: dataclasses.asdict deep-copies every value and was half of a rescan's CPU.
    data = {f.name: getattr(finding, f.name) for f in fields(Finding)}
    data["package"] = {f.name: getattr(finding.package, f.name) for f in fields(Package)}
    data["aliases"] = list(finding.aliases)
    data["cvss"] = dict(finding.cvss)
    return data


def finding_from_dict(data: dict) -> Finding:
    values = dict(data)
    values["package"] = Package(**values["package"])
    values["aliases"] = tuple(values.get("aliases", ()))
    values["references"] = tuple(values.get("references", ()))
    return Finding(**values)

