"""ECR account-level operations: authorization tokens, registry, settings, pull exclusions."""

from __future__ import annotations

from typing import Any

from dockyard.api.ecr.context import Call
from dockyard.domain.errors import ParameterInvalid

Params = dict[str, Any]

# Setting name -> (default value, allowed values).
ACCOUNT_SETTINGS = {
    "BASIC_SCAN_TYPE_VERSION": ("AWS_NATIVE", {"AWS_NATIVE"}),
    "REGISTRY_POLICY_SCOPE": ("V2", {"V2"}),
    "BLOB_MOUNTING": ("ENABLED", {"ENABLED", "DISABLED"}),
}


def get_authorization_token(call: Call, p: Params) -> Params:
    token, expires = call.services.auth.issue_registry_token(call.account_id, call.principal)
    data = {"authorizationToken": token, "expiresAt": expires, "proxyEndpoint": call.base_url}
    return {"authorizationData": [data for _ in p.get("registryIds") or [call.account_id]]}


def describe_registry(call: Call, p: Params) -> Params:
    return {"registryId": call.account_id, "replicationConfiguration": {"rules": []}}


def _setting(name: str) -> tuple[str, set[str]]:
    if name not in ACCOUNT_SETTINGS:
        raise ParameterInvalid(f"Invalid parameter at 'name' failed to satisfy constraint: "
                               f"'Member must satisfy enum value set: {sorted(ACCOUNT_SETTINGS)}'")
    return ACCOUNT_SETTINGS[name]


def get_account_setting(call: Call, p: Params) -> Params:
    default, _ = _setting(p["name"])
    value = call.services.meta.get_account_setting(call.account_id, p["name"])
    return {"name": p["name"], "value": value or default}


def put_account_setting(call: Call, p: Params) -> Params:
    _, allowed = _setting(p["name"])
    if p["value"] not in allowed:
        raise ParameterInvalid(f"Invalid parameter at 'value' failed to satisfy constraint: "
                               f"'Member must satisfy enum value set: {sorted(allowed)}'")
    call.services.meta.put_account_setting(call.account_id, p["name"], p["value"])
    return {"name": p["name"], "value": p["value"]}


def register_pull_time_update_exclusion(call: Call, p: Params) -> Params:
    call.services.exclusions.register(call.account_id, p["principalArn"])
    return {"principalArn": p["principalArn"], "createdAt": call.services.clock.now()}


def deregister_pull_time_update_exclusion(call: Call, p: Params) -> Params:
    call.services.exclusions.deregister(call.account_id, p["principalArn"])
    return {"principalArn": p["principalArn"]}


def list_pull_time_update_exclusions(call: Call, p: Params) -> Params:
    found, token = call.services.exclusions.page(call.account_id, p.get("nextToken"),
                                                 p.get("maxResults"))
    return {"pullTimeUpdateExclusions": found, "nextToken": token}
