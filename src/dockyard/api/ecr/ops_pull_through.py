"""ECR pull-through cache rule operations: Create, Describe, Update, Delete, Validate."""

from __future__ import annotations

from typing import Any

from dockyard.api.ecr.context import Call
from dockyard.domain.pull_through import ROOT, PullThroughRule

Params = dict[str, Any]


def create_pull_through_cache_rule(call: Call, p: Params) -> Params:
    account = call.account(p)
    rule = PullThroughRule(
        prefix=p["ecrRepositoryPrefix"],
        upstream_url=p["upstreamRegistryUrl"],
        upstream_registry=p.get("upstreamRegistry", ""),
        upstream_prefix=p.get("upstreamRepositoryPrefix", ROOT),
        credential_arn=p.get("credentialArn", ""),
        custom_role_arn=p.get("customRoleArn", ""),
    )
    created = call.services.pull_through_rules.create(account, rule)
    return {**_shape(created, account), "createdAt": created.created_at}


def describe_pull_through_cache_rules(call: Call, p: Params) -> Params:
    account = call.account(p)
    found, token = call.services.pull_through_rules.describe(
        account, p.get("ecrRepositoryPrefixes"), p.get("nextToken"), p.get("maxResults")
    )
    rules = [
        {**_shape(r, account), "createdAt": r.created_at, "updatedAt": r.updated_at} for r in found
    ]
    return {"pullThroughCacheRules": rules, "nextToken": token}


def update_pull_through_cache_rule(call: Call, p: Params) -> Params:
    account = call.account(p)
    updated = call.services.pull_through_rules.update(
        account, p["ecrRepositoryPrefix"], p.get("credentialArn"), p.get("customRoleArn")
    )
    shape = _shape(updated, account)
    del shape["upstreamRegistryUrl"], shape["upstreamRegistry"]
    return {**shape, "updatedAt": updated.updated_at}


def delete_pull_through_cache_rule(call: Call, p: Params) -> Params:
    account = call.account(p)
    deleted = call.services.pull_through_rules.delete(account, p["ecrRepositoryPrefix"])
    shape = _shape(deleted, account)
    del shape["upstreamRegistry"]
    return {**shape, "createdAt": deleted.created_at}


def validate_pull_through_cache_rule(call: Call, p: Params) -> Params:
    account = call.account(p)
    rule, failure = call.services.pull_through_rules.validate(account, p["ecrRepositoryPrefix"])
    shape = _shape(rule, account)
    del shape["upstreamRegistry"]
    return {**shape, "isValid": failure is None, "failure": failure}


def _shape(rule: PullThroughRule, account: str) -> Params:
    shape: Params = {
        "ecrRepositoryPrefix": rule.prefix,
        "registryId": account,
        "upstreamRegistryUrl": rule.upstream_url,
        "upstreamRegistry": rule.upstream_registry or None,
        "upstreamRepositoryPrefix": rule.upstream_prefix,
    }
    if rule.credential_arn:
        shape["credentialArn"] = rule.credential_arn
    if rule.custom_role_arn:
        shape["customRoleArn"] = rule.custom_role_arn
    return shape
