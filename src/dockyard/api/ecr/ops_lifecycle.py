"""ECR lifecycle policy operations: Put/Get/DeleteLifecyclePolicy and the preview pair."""

from __future__ import annotations

from typing import Any

from dockyard.api.ecr import shapes
from dockyard.api.ecr.context import Call
from dockyard.domain.errors import ParameterInvalid
from dockyard.services.lifecycle_preview import PreviewEntry, PreviewPage

Params = dict[str, Any]


def put_lifecycle_policy(call: Call, p: Params) -> Params:
    text = p["lifecyclePolicyText"]
    repo = call.services.lifecycle.put_policy(call.account(p), p["repositoryName"], text)
    return {"registryId": repo.account_id, "repositoryName": repo.name, "lifecyclePolicyText": text}


def get_lifecycle_policy(call: Call, p: Params) -> Params:
    repo, record = call.services.lifecycle.get_policy(call.account(p), p["repositoryName"])
    return {
        "registryId": repo.account_id,
        "repositoryName": repo.name,
        "lifecyclePolicyText": record.text,
        "lastEvaluatedAt": record.last_evaluated_at,
    }


def delete_lifecycle_policy(call: Call, p: Params) -> Params:
    repo, record = call.services.lifecycle.delete_policy(call.account(p), p["repositoryName"])
    return {
        "registryId": repo.account_id,
        "repositoryName": repo.name,
        "lifecyclePolicyText": record.text,
        "lastEvaluatedAt": record.last_evaluated_at,
    }


def start_lifecycle_policy_preview(call: Call, p: Params) -> Params:
    repo, text = call.services.previews.start(
        call.account(p), p["repositoryName"], p.get("lifecyclePolicyText")
    )
    return {
        "registryId": repo.account_id,
        "repositoryName": repo.name,
        "lifecyclePolicyText": text,
        "status": "IN_PROGRESS",
    }


def get_lifecycle_policy_preview(call: Call, p: Params) -> Params:
    ids = shapes.image_ids_in(p) if "imageIds" in p else None
    if ids is not None:
        for member in ("nextToken", "maxResults"):
            if member in p:
                raise ParameterInvalid(
                    f"Invalid parameter at '{member}' failed to satisfy "
                    "constraint: 'Cannot be specified with imageIds'"
                )
    page = call.services.previews.page(
        call.account(p),
        p["repositoryName"],
        ids,
        (p.get("filter") or {}).get("tagStatus", "ANY"),
        p.get("nextToken"),
        p.get("maxResults"),
    )
    answer: Params = {
        "registryId": page.repo.account_id,
        "repositoryName": page.repo.name,
        "lifecyclePolicyText": page.preview.text,
        "status": page.preview.status,
        "previewResults": [_result(e) for e in page.entries],
        "nextToken": page.next_token,
    }
    if page.preview.status == "COMPLETE":
        answer["summary"] = _summary(page)
    return answer


def _result(entry: PreviewEntry) -> Params:
    action: Params = {"type": entry.action}
    if entry.action == "TRANSITION":
        action["targetStorageClass"] = "ARCHIVE"
    return {
        "imageTags": list(entry.tags) or None,
        "imageDigest": entry.digest,
        "imagePushedAt": entry.pushed_at,
        "action": action,
        "appliedRulePriority": entry.rule_priority,
        "storageClass": entry.storage_class,
    }


def _summary(page: PreviewPage) -> Params:
    summary: Params = {"expiringImageTotalCount": page.expiring}
    if page.transitioning:
        summary["transitioningImageTotalCounts"] = [
            {"targetStorageClass": "ARCHIVE", "imageTotalCount": page.transitioning}
        ]
    return summary
