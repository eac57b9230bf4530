"""ECR account-level operations: authorization tokens, registry, settings, pull exclusions."""

from __future__ import annotations

from typing import Any

from dockyard.api.ecr.context import Call
from dockyard.services.placement import bounded

Params = dict[str, Any]


@bounded
def get_authorization_token(call: Call, p: Params) -> Params:
    """One token per registry asked for; a token for another account's registry addresses it on
    any host (access is checked at each `/v2/` request, services/access.py)."""
    return {
        "authorizationData": [
            _token(call, registry) for registry in p.get("registryIds") or [call.account_id]
        ]
    }


def _token(call: Call, registry: str) -> Params:
    token, expires = call.services.auth.issue_registry_token(
        call.account_id, call.principal, registry
    )
    return {
        "authorizationToken": token,
        "expiresAt": expires,
        "proxyEndpoint": registry_endpoint(call.base_url, registry),
    }


def registry_endpoint(base_url: str, registry: str) -> str:
    """The base URL naming `registry`: a host `<account>.<rest>` (as ECR's
    `<account>.dkr.ecr.<region>.amazonaws.com`) gets the registry's account; any other host
    stays as it is (the token itself then names the registry)."""
    scheme, _, host = base_url.partition("://")
    first, dot, rest = host.partition(".")
    if dot and len(first) == 12 and first.isdigit():
        return f"{scheme}://{registry}.{rest}"
    return base_url


def get_account_setting(call: Call, p: Params) -> Params:
    return {"name": p["name"], "value": call.services.settings.get(call.account_id, p["name"])}


def put_account_setting(call: Call, p: Params) -> Params:
    value = call.services.settings.put(call.account_id, p["name"], p["value"])
    return {"name": p["name"], "value": value}


def register_pull_time_update_exclusion(call: Call, p: Params) -> Params:
    created = call.services.exclusions.register(call.account_id, p["principalArn"])
    return {"principalArn": p["principalArn"], "createdAt": created}


def deregister_pull_time_update_exclusion(call: Call, p: Params) -> Params:
    call.services.exclusions.deregister(call.account_id, p["principalArn"])
    return {"principalArn": p["principalArn"]}


def list_pull_time_update_exclusions(call: Call, p: Params) -> Params:
    found, token = call.services.exclusions.page(
        call.account_id, p.get("nextToken"), p.get("maxResults")
    )
    return {"pullTimeUpdateExclusions": found, "nextToken": token}
