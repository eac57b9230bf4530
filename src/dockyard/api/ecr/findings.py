"""Findings in ECR's shapes: basic `findings[]`, enhanced `enhancedFindings[]`, severity counts.

    Finding ──basic_finding()────► ImageScanFinding {name, description, uri, severity, attributes}
            ──enhanced_finding()─► EnhancedImageScanFinding (Inspector-style, scanning.md §6.5)

Member names follow botocore's ECR model (`ImageScanFinding`, `EnhancedImageScanFinding` and
their nested shapes); the tests serialize both through `serialize_shape` to prove it. Values are
plain dicts with datetimes, exactly what `dockyard.api.ecr.serialize` renders.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dockyard.domain.cvss import score
from dockyard.domain.models import ScanRecord
from dockyard.domain.scanning import Finding, Package

__all__ = [
    "ImageContext",
    "basic_finding",
    "basic_findings",
    "enhanced_finding",
    "enhanced_findings",
    "finding_key",
]

Doc = dict[str, Any]

_PACKAGE_MANAGERS = {
    "dpkg": "OS",
    "apk": "OS",
    "rpm": "OS",
    "python": "PYTHONPKG",
    "npm": "NODEPKG",
    "go": "GOBINARY",
    "java": "JAR",
}
_SOURCES = (
    ("DEBIAN-CVE-", "DEBIAN_CVE"),
    ("DSA-", "DEBIAN_CVE"),
    ("DLA-", "DEBIAN_CVE"),
    ("UBUNTU-CVE-", "UBUNTU_CVE"),
    ("USN-", "UBUNTU_CVE"),
    ("ALPINE-CVE-", "ALPINE_SECDB"),
    ("GHSA-", "GITHUB"),
    ("CVE-", "NVD"),
)
_ATTRIBUTE_ORDER = (
    "package_version",
    "package_name",
    "CVSS3_SCORE",
    "CVSS3_VECTOR",
    "CVSS2_SCORE",
    "CVSS2_VECTOR",
)


def basic_finding(finding: Finding) -> Doc:
    """One `ImageScanFinding`: attributes package_version, package_name, then CVSS3/CVSS2."""
    values = {
        "package_version": finding.package.match_version,
        "package_name": finding.package.match_name,
        **finding.cvss,
    }
    attributes = [{"key": k, "value": values[k][:256]} for k in _ATTRIBUTE_ORDER if values.get(k)]
    return {
        "name": finding.id,
        "description": finding.description,
        "uri": finding.uri,
        "severity": finding.severity,
        "attributes": attributes,
    }


def basic_findings(findings: Iterable[Finding]) -> list[Doc]:
    return [basic_finding(f) for f in findings]


@dataclass(frozen=True)
class ImageContext:
    """The image a set of enhanced findings is about; `observed` maps finding_key -> first seen."""

    account_id: str
    region: str
    repository_name: str
    image_digest: str
    scanned_at: datetime | None
    image_tags: tuple[str, ...] = ()
    pushed_at: datetime | None = None
    platform: str = ""  # e.g. DEBIAN_12, ALPINE_LINUX_3_19
    architecture: str = ""
    observed: Mapping[str, datetime] = field(default_factory=dict)


def finding_key(image_digest: str, finding: Finding) -> str:
    """Stable hex id of (image, vulnerability, package, path): the findingArn's last part."""
    parts = (image_digest, finding.id, finding.package.name, finding.package.file_path)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def enhanced_findings(findings: Iterable[Finding], image: ImageContext) -> list[Doc]:
    return [enhanced_finding(f, image) for f in findings]


def enhanced_finding(finding: Finding, image: ImageContext) -> Doc:
    """One `EnhancedImageScanFinding` (Inspector's PACKAGE_VULNERABILITY shape)."""
    key = finding_key(image.image_digest, finding)
    cvss = _cvss_list(finding)
    doc: Doc = {
        "awsAccountId": image.account_id,
        "description": finding.description,
        "findingArn": f"arn:aws:inspector2:{image.region}:{image.account_id}:finding/{key}",
        "firstObservedAt": image.observed.get(key, image.scanned_at),
        "lastObservedAt": image.scanned_at,
        "updatedAt": image.scanned_at,
        "packageVulnerabilityDetails": _details(finding, cvss),
        "remediation": {"recommendation": _recommendation(finding)},
        "resources": [_resource(image)],
        "severity": "UNTRIAGED" if finding.severity == "UNDEFINED" else finding.severity,
        "status": "ACTIVE",
        "title": f"{finding.id} - {finding.package.match_name}",
        "type": "PACKAGE_VULNERABILITY",
        "fixAvailable": "YES" if finding.fixed_version else "NO",
        "exploitAvailable": "NO",
    }
    if cvss:
        doc["score"] = cvss[0]["baseScore"]
        doc["scoreDetails"] = {
            "cvss": {
                "adjustments": [],
                "score": cvss[0]["baseScore"],
                "scoreSource": cvss[0]["source"],
                "scoringVector": cvss[0]["scoringVector"],
                "version": cvss[0]["version"],
            }
        }
    return doc


def _details(finding: Finding, cvss: list[Doc]) -> Doc:
    return {
        "cvss": cvss,
        "referenceUrls": list(finding.references[:50]),
        "relatedVulnerabilities": [a for a in finding.aliases if a != finding.id],
        "source": _source(finding.advisory_id or finding.id),
        "sourceUrl": finding.uri,
        "vendorCreatedAt": _timestamp(finding.published),
        "vendorSeverity": finding.vendor_severity or None,
        "vendorUpdatedAt": _timestamp(finding.modified),
        "vulnerabilityId": finding.id,
        "vulnerablePackages": [_vulnerable_package(finding.package, finding.fixed_version)],
    }


def _cvss_list(finding: Finding) -> list[Doc]:
    found = []
    for label in ("CVSS3", "CVSS2"):
        vector = finding.cvss.get(f"{label}_VECTOR")
        parsed = score(vector) if vector else None
        if parsed is not None and parsed.base_score is not None:
            found.append(
                {
                    "baseScore": parsed.base_score,
                    "scoringVector": vector,
                    "source": _source(finding.advisory_id or finding.id),
                    "version": parsed.version,
                }
            )
    return found


def _vulnerable_package(package: Package, fixed: str) -> Doc:
    epoch, version, release = _split_version(package.version, package.package_manager)
    doc: Doc = {
        "name": package.name,
        "version": version,
        "epoch": epoch,
        "packageManager": _PACKAGE_MANAGERS.get(package.package_manager, "OS"),
        "fixedInVersion": fixed or "NotAvailable",
    }
    optional = {
        "release": release,
        "arch": package.arch.upper(),
        "filePath": package.file_path,
        "sourceLayerHash": package.layer_digest,
    }
    doc.update({k: v for k, v in optional.items() if v})
    return doc


def _split_version(full: str, manager: str) -> tuple[int, str, str]:
    """dpkg/rpm `[epoch:]version-release` -> (epoch, version, release); others unsplit."""
    if manager not in ("dpkg", "rpm", "apk"):
        return 0, full, ""
    epoch, _, rest = full.rpartition(":") if ":" in full else ("0", "", full)
    version, _, release = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return (int(epoch) if epoch.isdigit() else 0), version, release


def _recommendation(finding: Finding) -> Doc:
    if finding.fixed_version:
        return {"text": f"Upgrade {finding.package.name} to {finding.fixed_version}"}
    return {"text": "None Provided"}


def _resource(image: ImageContext) -> Doc:
    details: Doc = {
        "imageHash": image.image_digest,
        "registry": image.account_id,
        "repositoryName": image.repository_name,
        "imageTags": list(image.image_tags),
        "pushedAt": image.pushed_at,
        "platform": image.platform or None,
        "architecture": image.architecture or None,
    }
    return {
        "type": "AWS_ECR_CONTAINER_IMAGE",
        "id": f"arn:aws:ecr:{image.region}:{image.account_id}:repository/"
        f"{image.repository_name}/{image.image_digest}",
        "details": {"awsEcrContainerImage": details},
    }


def _source(advisory_id: str) -> str:
    for prefix, source in _SOURCES:
        if advisory_id.startswith(prefix):
            return source
    return "OSV"


def _timestamp(text: str) -> datetime | None:
    if not text:
        return None
    # OSV timestamps may carry nanoseconds; Python parses at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def summary(scan: ScanRecord) -> Doc | None:
    """ImageScanFindingsSummary, once a scan has results."""
    if scan.completed_at is None or scan.status not in ("COMPLETE", "ACTIVE"):
        return None
    return {
        "imageScanCompletedAt": scan.completed_at,
        "vulnerabilitySourceUpdatedAt": scan.source_updated_at,
        "findingSeverityCounts": scan.severity_counts,
    }


def status(scan: ScanRecord) -> Doc:
    return {"status": scan.status, "description": scan.description}
