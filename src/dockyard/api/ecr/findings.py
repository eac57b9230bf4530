"""Findings rendered as ECR's basic `findings[]` and enhanced `enhancedFindings[]` shapes."""

from __future__ import annotations

import hashlib
from typing import Any

from dockyard.domain.models import Image, Repository, ScanRecord
from dockyard.domain.scanning import Finding

Doc = dict[str, Any]
PACKAGE_MANAGERS = {"dpkg": "OS", "apk": "OS", "rpm": "OS", "python": "PYTHONPKG",
                    "npm": "NODEPKG"}


def basic(finding: Finding) -> Doc:
    attributes = [{"key": "package_version", "value": finding.package.match_version},
                  {"key": "package_name", "value": finding.package.match_name}]
    attributes += [{"key": k, "value": v} for k, v in sorted(finding.cvss.items())]
    return {"name": finding.id, "description": finding.description, "uri": finding.uri,
            "severity": finding.severity, "attributes": attributes}


def enhanced(finding: Finding, repo: Repository, image: Image, scan: ScanRecord,
             region: str) -> Doc:
    package = finding.package
    version, _, release = package.version.rpartition("-") if "-" in package.version else (
        package.version, "", "")
    arn = f"arn:aws:ecr:{region}:{repo.account_id}:repository/{repo.name}/{image.digest}"
    return {
        "awsAccountId": repo.account_id,
        "description": finding.description,
        "findingArn": f"arn:aws:inspector2:{region}:{repo.account_id}:finding/"
                      + _finding_key(image.digest, finding),
        "firstObservedAt": scan.started_at,
        "lastObservedAt": scan.completed_at,
        "updatedAt": scan.completed_at,
        "packageVulnerabilityDetails": {
            "vulnerabilityId": finding.id,
            "source": finding.advisory_id.split("-")[0] if finding.advisory_id else "OSV",
            "sourceUrl": finding.uri,
            "referenceUrls": [finding.uri] if finding.uri else [],
            "relatedVulnerabilities": list(finding.aliases),
            "vulnerablePackages": [{
                "name": package.name, "version": version or package.version, "release": release,
                "arch": package.arch, "packageManager": PACKAGE_MANAGERS.get(
                    package.package_manager, package.package_manager.upper()),
                "filePath": package.file_path, "sourceLayerHash": package.layer_digest,
                "fixedInVersion": finding.fixed_version or "NotAvailable",
            }],
            "vendorSeverity": finding.severity,
        },
        "remediation": {"recommendation": {"text": _remedy(finding)}},
        "resources": [{"id": arn, "type": "AWS_ECR_CONTAINER_IMAGE", "details": {
            "awsEcrContainerImage": {"imageHash": image.digest, "imageTags": list(image.tags),
                                     "pushedAt": image.pushed_at, "registry": repo.account_id,
                                     "repositoryName": repo.name}}}],
        "severity": finding.severity,
        "status": "ACTIVE",
        "title": f"{finding.id} - {package.name}",
        "type": "PACKAGE_VULNERABILITY",
        "fixAvailable": "YES" if finding.fixed_version else "NO",
    }


def _finding_key(digest: str, finding: Finding) -> str:
    """Stable across processes and rescans, so clients can track one finding over time."""
    text = f"{digest}|{finding.id}|{finding.package.name}|{finding.package.version}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _remedy(finding: Finding) -> str:
    if not finding.fixed_version:
        return "None Provided"
    return f"Upgrade {finding.package.name} to version {finding.fixed_version} or later."


def summary(scan: ScanRecord) -> Doc | None:
    if scan.completed_at is None or scan.status not in ("COMPLETE", "ACTIVE"):
        return None
    return {"imageScanCompletedAt": scan.completed_at,
            "vulnerabilitySourceUpdatedAt": scan.source_updated_at,
            "findingSeverityCounts": scan.severity_counts}


def status(scan: ScanRecord) -> Doc:
    return {"status": scan.status, "description": scan.description}
