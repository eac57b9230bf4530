"""ECR replication operations: PutReplicationConfiguration, DescribeRegistry,
DescribeImageReplicationStatus (services/replication.py; the copies: replication_copy.py)."""

from __future__ import annotations

from typing import Any

from dockyard.api.ecr import shapes
from dockyard.api.ecr.context import Call

Params = dict[str, Any]


def put_replication_configuration(call: Call, p: Params) -> Params:
    stored = call.services.replication.put_configuration(
        call.account_id, p["replicationConfiguration"]
    )
    return {"replicationConfiguration": stored}


def describe_registry(call: Call, p: Params) -> Params:
    return {
        "registryId": call.account_id,
        "replicationConfiguration": call.services.replication.describe(call.account_id),
    }


def describe_image_replication_status(call: Call, p: Params) -> Params:
    (image_id,) = shapes.image_ids_in({"imageIds": [p["imageId"]]})
    repo, image, statuses = call.services.replication.statuses(
        call.account(p), p["repositoryName"], image_id
    )
    return {
        "repositoryName": repo.name,
        "imageId": shapes.image_id(image.digest, image_id.tag),
        "replicationStatuses": [
            {
                "region": s.destination.region,
                "registryId": s.destination.registry_id,
                "status": str(s.status),
                "failureCode": s.failure if s.failure and s.status == "FAILED" else None,
            }
            for s in statuses
        ],
    }
