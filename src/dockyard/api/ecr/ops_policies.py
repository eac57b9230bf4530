"""ECR registry policy operations: PutRegistryPolicy, GetRegistryPolicy, DeleteRegistryPolicy."""

from __future__ import annotations

from typing import Any

from dockyard.api.ecr.context import Call

Params = dict[str, Any]


def put_registry_policy(call: Call, p: Params) -> Params:
    text = call.services.registry_policies.put(call.account_id, p["policyText"])
    return {"registryId": call.account_id, "policyText": text}


def get_registry_policy(call: Call, p: Params) -> Params:
    return {
        "registryId": call.account_id,
        "policyText": call.services.registry_policies.get(call.account_id),
    }


def delete_registry_policy(call: Call, p: Params) -> Params:
    return {
        "registryId": call.account_id,
        "policyText": call.services.registry_policies.delete(call.account_id),
    }
