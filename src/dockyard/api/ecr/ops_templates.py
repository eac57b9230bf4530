"""ECR repository creation template operations: Create, Describe, Update, Delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard.api.ecr.context import Call
from dockyard.domain.templates import AppliedFor, CreationTemplate

Params = dict[str, Any]

#: request member -> CreationTemplate field, with the conversion of its value
_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "description": ("description", str),
    "imageTagMutability": ("tag_mutability", str),
    "imageTagMutabilityExclusionFilters": (
        "mutability_exclusions",
        lambda items: tuple(f["filter"] for f in items),
    ),
    "encryptionConfiguration": ("encryption", dict),
    "resourceTags": ("resource_tags", lambda items: {t["Key"]: t["Value"] for t in items}),
    "repositoryPolicy": ("repository_policy", str),
    "lifecyclePolicy": ("lifecycle_policy", str),
    "customRoleArn": ("custom_role_arn", str),
    "appliedFor": ("applied_for", lambda items: tuple(AppliedFor(x) for x in items)),
}


def _changes(p: Params) -> dict[str, Any]:
    return {
        field: convert(p[member]) for member, (field, convert) in _FIELDS.items() if member in p
    }


def create_repository_creation_template(call: Call, p: Params) -> Params:
    template = CreationTemplate(prefix=p["prefix"], **{"applied_for": (), **_changes(p)})
    created = call.services.templates.create(call.account_id, template)
    return {"registryId": call.account_id, "repositoryCreationTemplate": _shape(created)}


def update_repository_creation_template(call: Call, p: Params) -> Params:
    updated = call.services.templates.update(call.account_id, p["prefix"], _changes(p))
    return {"registryId": call.account_id, "repositoryCreationTemplate": _shape(updated)}


def delete_repository_creation_template(call: Call, p: Params) -> Params:
    deleted = call.services.templates.delete(call.account_id, p["prefix"])
    return {"registryId": call.account_id, "repositoryCreationTemplate": _shape(deleted)}


def describe_repository_creation_templates(call: Call, p: Params) -> Params:
    found, token = call.services.templates.describe(
        call.account_id, p.get("prefixes"), p.get("nextToken"), p.get("maxResults")
    )
    return {
        "registryId": call.account_id,
        "repositoryCreationTemplates": [_shape(t) for t in found],
        "nextToken": token,
    }


def _shape(t: CreationTemplate) -> Params:
    shape: Params = {
        "prefix": t.prefix,
        "description": t.description,
        "appliedFor": list(t.applied_for),
        "encryptionConfiguration": t.encryption,
        "imageTagMutability": t.tag_mutability,
        "resourceTags": [{"Key": k, "Value": v} for k, v in sorted(t.resource_tags.items())],
        "createdAt": t.created_at,
        "updatedAt": t.updated_at,
    }
    if t.mutability_exclusions:
        shape["imageTagMutabilityExclusionFilters"] = [
            {"filterType": "WILDCARD", "filter": f} for f in t.mutability_exclusions
        ]
    for member, value in (
        ("repositoryPolicy", t.repository_policy),
        ("lifecyclePolicy", t.lifecycle_policy),
        ("customRoleArn", t.custom_role_arn),
    ):
        if value:
            shape[member] = value
    return shape
