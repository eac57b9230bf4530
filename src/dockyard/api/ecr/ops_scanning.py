"""ECR scanning operations: StartImageScan, DescribeImageScanFindings and the configurations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dockyard.api.ecr import findings, shapes
from dockyard.api.ecr.context import Call
from dockyard.domain.errors import RepositoryNotFound
from dockyard.services.scanning import FindingsPage

Params = dict[str, Any]


def start_image_scan(call: Call, p: Params) -> Params:
    image_id = shapes.image_ids_in({"imageIds": [p["imageId"]]})[0]
    repo, image, scan = call.services.scans.start(call.account(p), p["repositoryName"], image_id)
    return {
        "registryId": repo.account_id,
        "repositoryName": repo.name,
        "imageId": shapes.image_id(image.digest, image_id.tag),
        "imageScanStatus": findings.status(scan),
    }


def describe_image_scan_findings(call: Call, p: Params) -> Params:
    image_id = shapes.image_ids_in({"imageIds": [p["imageId"]]})[0]
    page = call.services.scans.findings(
        call.account(p), p["repositoryName"], image_id, p.get("nextToken"), p.get("maxResults")
    )
    result: Params = {
        "registryId": page.repo.account_id,
        "repositoryName": page.repo.name,
        "imageId": shapes.image_id(page.image.digest, image_id.tag),
        "imageScanStatus": findings.status(page.scan),
        "nextToken": page.next_token,
    }
    body = findings.summary(page.scan)
    if body is not None:
        if page.scan.scan_type == "ENHANCED":
            body["enhancedFindings"] = findings.enhanced_findings(
                page.findings, _context(call, page)
            )
        else:
            body["findings"] = findings.basic_findings(page.findings)
        result["imageScanFindings"] = body
    return result


def _context(call: Call, page: FindingsPage) -> findings.ImageContext:
    return findings.ImageContext(
        account_id=page.repo.account_id,
        region=call.region,
        repository_name=page.repo.name,
        image_digest=page.image.digest,
        scanned_at=_when(page.scan.completed_at),
        image_tags=page.image.tags,
        pushed_at=_when(page.image.pushed_at),
        observed=_first_seen(page),
    )


def _first_seen(page: FindingsPage) -> dict[str, datetime]:
    """First sightings are not kept per finding: a finding counts as seen since its scan began."""
    started = datetime.fromtimestamp(page.scan.started_at, UTC)
    return {findings.finding_key(page.image.digest, f): started for f in page.findings}


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def get_registry_scanning_configuration(call: Call, p: Params) -> Params:
    config = call.services.scan_config.get(call.account_id)
    return {"registryId": call.account_id, "scanningConfiguration": config}


def put_registry_scanning_configuration(call: Call, p: Params) -> Params:
    config = call.services.scans.configure(
        call.account_id, p.get("scanType", "BASIC"), p.get("rules", [])
    )
    return {"registryScanningConfiguration": config}


def batch_get_repository_scanning_configuration(call: Call, p: Params) -> Params:
    configs, failures = [], []
    for name in p["repositoryNames"]:
        try:
            repo = call.services.repositories.get(call.account_id, name)
        except RepositoryNotFound as exc:
            failures.append(
                {
                    "repositoryName": name,
                    "failureCode": "REPOSITORY_NOT_FOUND",
                    "failureReason": exc.message,
                }
            )
            continue
        rule = call.services.scan_config.rule_for(repo)
        frequency = (
            rule["scanFrequency"] if rule else ("SCAN_ON_PUSH" if repo.scan_on_push else "MANUAL")
        )
        configs.append(
            {
                "repositoryArn": call.repository_arn(repo.name),
                "repositoryName": repo.name,
                "scanOnPush": repo.scan_on_push or frequency == "SCAN_ON_PUSH",
                "scanFrequency": frequency,
                "appliedScanFilters": rule.get("repositoryFilters", []) if rule else [],
            }
        )
    return {"scanningConfigurations": configs, "failures": failures}
