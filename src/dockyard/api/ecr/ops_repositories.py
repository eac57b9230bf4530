"""ECR repository operations: translate parameters, call the service, shape the result."""

from __future__ import annotations

from typing import Any

from dockyard.api.ecr import shapes
from dockyard.api.ecr.context import Call
from dockyard.domain.errors import ParameterInvalid
from dockyard.domain.models import RepositoryChanges, RepositorySettings

Params = dict[str, Any]


def _filters(params: Params) -> tuple[str, ...]:
    return tuple(f["filter"] for f in params.get("imageTagMutabilityExclusionFilters") or [])


def _resource_tags(items: list[dict[str, str]]) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in items}


def create_repository(call: Call, p: Params) -> Params:
    encryption = p.get("encryptionConfiguration") or {"encryptionType": "AES256"}
    if encryption.get("kmsKey") and encryption["encryptionType"] == "AES256":
        raise ParameterInvalid(
            "Invalid parameter at 'encryptionConfiguration' failed to satisfy "
            "constraint: 'kmsKey can only be specified for KMS encryption'"
        )
    settings = RepositorySettings(
        tag_mutability=p.get("imageTagMutability", "MUTABLE"),
        mutability_exclusions=_filters(p),
        scan_on_push=bool((p.get("imageScanningConfiguration") or {}).get("scanOnPush", False)),
        encryption=dict(encryption),
        resource_tags=_resource_tags(p.get("tags", [])),
    )
    repo = call.services.admin.create(call.account(p), p["repositoryName"], settings)
    return {"repository": shapes.repository(call, repo)}


def describe_repositories(call: Call, p: Params) -> Params:
    names = p.get("repositoryNames")
    if names and ("nextToken" in p or "maxResults" in p):
        raise ParameterInvalid(
            "Invalid parameter at 'repositoryNames' failed to satisfy "
            "constraint: 'Cannot be specified with nextToken or maxResults'"
        )
    found, token = call.services.admin.describe(
        call.account(p), names, p.get("nextToken"), p.get("maxResults")
    )
    return {"repositories": [shapes.repository(call, r) for r in found], "nextToken": token}


def delete_repository(call: Call, p: Params) -> Params:
    repo = call.services.admin.delete(call.account(p), p["repositoryName"], p.get("force", False))
    return {"repository": shapes.repository(call, repo)}


def put_image_tag_mutability(call: Call, p: Params) -> Params:
    repo = call.services.admin.update(
        call.account(p),
        p["repositoryName"],
        RepositoryChanges(
            tag_mutability=p["imageTagMutability"], mutability_exclusions=tuple(_filters(p))
        ),
    )
    result = {
        "registryId": repo.account_id,
        "repositoryName": repo.name,
        "imageTagMutability": repo.tag_mutability,
    }
    if repo.mutability_exclusions:
        result["imageTagMutabilityExclusionFilters"] = shapes.repository(call, repo)[
            "imageTagMutabilityExclusionFilters"
        ]
    return result


def put_image_scanning_configuration(call: Call, p: Params) -> Params:
    scan_on_push = bool(p["imageScanningConfiguration"].get("scanOnPush", False))
    repo = call.services.admin.update(
        call.account(p), p["repositoryName"], RepositoryChanges(scan_on_push=scan_on_push)
    )
    return {
        "registryId": repo.account_id,
        "repositoryName": repo.name,
        "imageScanningConfiguration": {"scanOnPush": repo.scan_on_push},
    }


def tag_resource(call: Call, p: Params) -> Params:
    name = call.name_from_arn(p["resourceArn"])
    call.services.admin.tag(call.account_id, name, _resource_tags(p["tags"]))
    return {}


def untag_resource(call: Call, p: Params) -> Params:
    name = call.name_from_arn(p["resourceArn"])
    call.services.admin.untag(call.account_id, name, p["tagKeys"])
    return {}


def list_tags_for_resource(call: Call, p: Params) -> Params:
    found = call.services.admin.tags(call.account_id, call.name_from_arn(p["resourceArn"]))
    return {"tags": [{"Key": k, "Value": v} for k, v in sorted(found.items())]}


def set_repository_policy(call: Call, p: Params) -> Params:
    repo = call.services.admin.set_policy(
        call.account(p),
        p["repositoryName"],
        p["policyText"],
        force=p.get("force", False),
        caller=call.principal,
    )
    return {"registryId": repo.account_id, "repositoryName": repo.name, "policyText": repo.policy}


def get_repository_policy(call: Call, p: Params) -> Params:
    repo = call.services.admin.get_policy(call.account(p), p["repositoryName"])
    return {"registryId": repo.account_id, "repositoryName": repo.name, "policyText": repo.policy}


def delete_repository_policy(call: Call, p: Params) -> Params:
    repo = call.services.admin.delete_policy(call.account(p), p["repositoryName"])
    return {"registryId": repo.account_id, "repositoryName": repo.name, "policyText": repo.policy}
