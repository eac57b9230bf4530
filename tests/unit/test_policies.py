"""The resource-policy evaluator: grammar (with ECR's messages), principals, actions, Deny wins."""

from __future__ import annotations

import json

import pytest

from dockyard.domain.errors import ParameterInvalid
from dockyard.domain.policies import (
    Decision,
    PolicyKind,
    allowed,
    parse_policy,
    principal_account,
)

A, B = "111111111111", "222222222222"
REPO = f"arn:aws:ecr:us-east-1:{A}:repository/team/app"
ROOT_B = f"arn:aws:iam::{B}:root"
USER_B = f"arn:aws:iam::{B}:user/ci"
ROLE_B = f"arn:aws:iam::{B}:role/deployer"
REPOSITORY_MESSAGE = (
    "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
    "'Invalid repository policy provided'"
)
REGISTRY_MESSAGE = REPOSITORY_MESSAGE.replace("repository policy", "registry policy")


def policy(*statements: dict, kind: PolicyKind = PolicyKind.REPOSITORY) -> object:
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), kind)


def stmt(
    effect: str = "Allow", principal: object = "*", action: object = "ecr:*", **more: object
) -> dict:
    return {"Effect": effect, "Principal": principal, "Action": action, **more}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"Statement": [], "Extra": 1}), "unknown policy element"),
        (json.dumps({"Version": "2020-01-01", "Statement": []}), "Version"),
        (json.dumps({"Statement": "x"}), "Statement"),
        (json.dumps({"Statement": [1]}), "JSON object"),
        (json.dumps({"Statement": [stmt(effect="Maybe")]}), "Effect"),
        (json.dumps({"Statement": [stmt(principal="someone")]}), "Principal"),
        (json.dumps({"Statement": [stmt(principal={"AWS": "12345"})]}), "Principal"),
        (json.dumps({"Statement": [stmt(principal={"AWS": "arn:aws:iam::1:root"})]}), "Principal"),
        (json.dumps({"Statement": [stmt(principal={"Federated": "x"})]}), "Principal"),
        (json.dumps({"Statement": [stmt(action="s3:GetObject")]}), "ecr: action"),
        (json.dumps({"Statement": [stmt(action=[])]}), "Action is required"),
        (json.dumps({"Statement": [stmt(action=[1])]}), "Action must be"),
        (json.dumps({"Statement": [stmt(Resource="*")]}), "Resource"),
        (
            json.dumps({"Statement": [stmt(Condition={"Bool": {"aws:SecureTransport": "true"}})]}),
            "Condition is not supported",
        ),
        (json.dumps({"Statement": [stmt(NotAction="ecr:*")]}), "NotAction"),
        (json.dumps({"Statement": [stmt(Sid=3)]}), "Sid"),
        (json.dumps({"Statement": [{**stmt(), "Surprise": True}]}), "unknown statement element"),
    ],
)
def test_grammar_errors_carry_ecrs_message(text: str, reason: str) -> None:
    with pytest.raises(ParameterInvalid) as info:
        parse_policy(text)
    assert info.value.message == REPOSITORY_MESSAGE
    assert reason in str(info.value.detail["reason"])


def test_registry_policies_need_a_resource_and_say_registry() -> None:
    with pytest.raises(ParameterInvalid) as info:
        policy(stmt(), kind=PolicyKind.REGISTRY)
    assert info.value.message == REGISTRY_MESSAGE
    assert "Resource is required" in str(info.value.detail["reason"])


def test_statement_may_be_one_object_and_version_2008() -> None:
    document = {"Version": "2008-10-17", "Statement": stmt(principal={"AWS": B})}
    parsed = parse_policy(json.dumps(document))
    assert allowed([parsed], ROOT_B, "ecr:BatchGetImage", REPO) is Decision.ALLOW


@pytest.mark.parametrize(
    ("principal", "caller", "expected"),
    [
        ("*", USER_B, Decision.ALLOW),
        ({"AWS": "*"}, ROOT_B, Decision.ALLOW),
        ({"AWS": B}, USER_B, Decision.ALLOW),
        ({"AWS": f"arn:aws:iam::{B}:root"}, ROLE_B, Decision.ALLOW),
        ({"AWS": [A, USER_B]}, USER_B, Decision.ALLOW),
        ({"AWS": USER_B}, f"arn:aws:iam::{B}:user/other", Decision.NOT_APPLICABLE),
        ({"AWS": USER_B}, ROOT_B, Decision.NOT_APPLICABLE),
        ({"AWS": ROLE_B}, f"arn:aws:sts::{B}:assumed-role/deployer/session-1", Decision.ALLOW),
        ({"AWS": A}, USER_B, Decision.NOT_APPLICABLE),
        ({"Service": "replication.ecr.amazonaws.com"}, ROOT_B, Decision.NOT_APPLICABLE),
    ],
)
def test_principals_of_every_form(principal: object, caller: str, expected: Decision) -> None:
    assert allowed([policy(stmt(principal=principal))], caller, "ecr:BatchGetImage", REPO) is (
        expected
    )


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("ecr:*", "ecr:PutImage", True),
        ("*", "ecr:PutImage", True),
        ("ecr:Batch*", "ecr:BatchGetImage", True),
        ("ecr:Batch*", "ecr:GetDownloadUrlForLayer", False),
        ("ECR:batchgetimage", "ecr:BatchGetImage", True),
        ("ecr:Get?ownloadUrlForLayer", "ecr:GetDownloadUrlForLayer", True),
        ("ecr:BatchGetImage", "ecr:BatchGetImages", False),
    ],
)
def test_action_globs(pattern: str, action: str, matches: bool) -> None:
    expected = Decision.ALLOW if matches else Decision.NOT_APPLICABLE
    assert allowed([policy(stmt(action=pattern))], ROOT_B, action, REPO) is expected


def test_explicit_deny_wins_across_statements_and_policies() -> None:
    allow = policy(stmt(principal={"AWS": B}))
    deny = policy(stmt("Deny", {"AWS": USER_B}, ["ecr:PutImage", "ecr:InitiateLayerUpload"]))
    assert allowed([allow, deny], USER_B, "ecr:PutImage", REPO) is Decision.DENY
    assert allowed([deny, allow], USER_B, "ecr:PutImage", REPO) is Decision.DENY
    assert allowed([allow, deny], USER_B, "ecr:BatchGetImage", REPO) is Decision.ALLOW
    assert allowed([allow, deny], ROOT_B, "ecr:PutImage", REPO) is Decision.ALLOW


def test_nothing_said_is_not_applicable() -> None:
    assert allowed([], ROOT_B, "ecr:BatchGetImage", REPO) is Decision.NOT_APPLICABLE
    empty = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": []}))
    assert allowed([empty], ROOT_B, "ecr:BatchGetImage", REPO) is Decision.NOT_APPLICABLE


def test_registry_policy_resources_are_arn_globs() -> None:
    prod = policy(
        stmt(principal={"AWS": B}, Resource=f"arn:aws:ecr:*:{A}:repository/team/*"),
        kind=PolicyKind.REGISTRY,
    )
    assert allowed([prod], ROOT_B, "ecr:BatchGetImage", REPO) is Decision.ALLOW
    other = f"arn:aws:ecr:us-east-1:{A}:repository/other"
    assert allowed([prod], ROOT_B, "ecr:BatchGetImage", other) is Decision.NOT_APPLICABLE


def test_principal_account() -> None:
    assert principal_account(USER_B) == B
    assert principal_account(f"arn:aws:sts::{A}:assumed-role/r/s") == A
    assert principal_account("dockyard:lifecycle") is None
