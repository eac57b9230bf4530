"""Records rendered as the model's output structures (plain dicts; serialize.py checks them)."""

from __future__ import annotations

from typing import Any

from dockyard.api.ecr import findings
from dockyard.api.ecr.context import Call
from dockyard.domain.manifests import manifest_text
from dockyard.domain.models import Image, Repository, ScanRecord
from dockyard.services.image_queries import ImageId


def repository(call: Call, repo: Repository) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "repositoryArn": call.repository_arn(repo.name, repo.account_id),
        "registryId": repo.account_id,
        "repositoryName": repo.name,
        "repositoryUri": call.repository_uri(repo.name, repo.account_id),
        "createdAt": repo.created_at,
        "imageTagMutability": repo.tag_mutability,
        "imageScanningConfiguration": {"scanOnPush": repo.scan_on_push},
        "encryptionConfiguration": repo.encryption,
    }
    if repo.mutability_exclusions:
        shape["imageTagMutabilityExclusionFilters"] = [
            {"filterType": "WILDCARD", "filter": f} for f in repo.mutability_exclusions
        ]
    return shape


def image_detail(repo: Repository, image: Image, scan: ScanRecord | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "registryId": repo.account_id,
        "repositoryName": repo.name,
        "imageDigest": image.digest,
        "imageTags": list(image.tags),
        "imageSizeInBytes": image.size_bytes,
        "imagePushedAt": image.pushed_at,
        "imageManifestMediaType": image.media_type,
        "artifactMediaType": image.artifact_media_type,
        "lastRecordedPullTime": image.last_pulled_at,
        "subjectManifestDigest": image.subject_digest,
        "imageStatus": image.status,
        "lastArchivedAt": image.archived_at,
        "lastActivatedAt": image.activated_at,
    }
    if scan is not None:
        detail["imageScanStatus"] = findings.status(scan)
        detail["imageScanFindingsSummary"] = findings.summary(scan)
    return detail


def image_id(digest: str | None, tag: str | None) -> dict[str, Any]:
    return {"imageDigest": digest, "imageTag": tag}


def image_ids_in(params: dict[str, Any], key: str = "imageIds") -> list[ImageId]:
    return [ImageId(i.get("imageDigest"), i.get("imageTag")) for i in params.get(key, [])]


def image(repo: Repository, found: Image, requested_tag: str | None) -> dict[str, Any]:
    assert found.manifest is not None
    return {
        "registryId": repo.account_id,
        "repositoryName": repo.name,
        "imageId": image_id(found.digest, requested_tag),
        "imageManifest": manifest_text(found.manifest),
        "imageManifestMediaType": found.media_type,
    }
