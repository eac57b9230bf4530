"""ECR account-level operations: authorization tokens, registry, settings, pull exclusions."""

from __future__ import annotations

from typing import Any

from dockyard.api.ecr.context import Call

Params = dict[str, Any]

def get_authorization_token(call: Call, p: Params) -> Params:
    token, expires = call.services.auth.issue_registry_token(call.account_id, call.principal)
    data = {"authorizationToken": token, "expiresAt": expires, "proxyEndpoint": call.base_url}
    return {"authorizationData": [data for _ in p.get("registryIds") or [call.account_id]]}


def describe_registry(call: Call, p: Params) -> Params:
    return {"registryId": call.account_id, "replicationConfiguration": {"rules": []}}


def get_account_setting(call: Call, p: Params) -> Params:
    return {"name": p["name"], "value": call.services.settings.get(call.account_id, p["name"])}


def put_account_setting(call: Call, p: Params) -> Params:
    value = call.services.settings.put(call.account_id, p["name"], p["value"])
    return {"name": p["name"], "value": value}


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
