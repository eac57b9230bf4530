"""The registry policy's V1 scope and SetRepositoryPolicy's `force`, over a real SQLite store:
V1 lets a registry policy name only the three registry-level actions and consults it only for
them; `force` is needed for a repository policy that would lock its author out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.app import create_services
from dockyard.domain.errors import AccessDenied, ParameterInvalid
from dockyard.domain.policies import PolicyKind, locks_out, parse_policy
from dockyard.services.auth import Caller
from dockyard.services.composition import Services
from dockyard.settings import Settings

A, B = "111111111111", "222222222222"
ROOT_A, ROOT_B = f"arn:aws:iam::{A}:root", f"arn:aws:iam::{B}:root"
REPO_ARN = f"arn:aws:ecr:us-east-1:{A}:repository/app"


def document(effect: str, principal: str, actions: list[str], **extra: object) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": effect, "Principal": {"AWS": principal}, "Action": actions, **extra}
            ],
        }
    )


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    auth = tmp_path / "auth.toml"
    auth.write_text(
        f'[[accounts]]\nid = "{A}"\n[[accounts.keys]]\naccess_key_id = "AKIAA"\n'
        'secret_access_key = "a"\n'
    )
    svc = create_services(Settings(data_dir=tmp_path / "data", auth_file=auth))
    yield svc
    svc.meta.close()


def test_v1_registry_policy_names_only_registry_level_actions(services: Services) -> None:
    services.settings.put(A, "REGISTRY_POLICY_SCOPE", "V1")
    pull = document("Allow", ROOT_B, ["ecr:BatchGetImage"], Resource="*")
    with pytest.raises(ParameterInvalid) as refused:
        services.registry_policies.put(A, pull)
    assert "Invalid registry policy provided" in refused.value.message
    assert "ecr:batchgetimage" in str(refused.value.detail["reason"])
    with pytest.raises(ParameterInvalid):  # a glob would promise more than V1 grants
        services.registry_policies.put(A, document("Allow", ROOT_B, ["ecr:*"], Resource="*"))
    services.registry_policies.put(
        A, document("Allow", ROOT_B, ["ecr:ReplicateImage"], Resource="*")
    )


def test_v1_consults_the_registry_policy_only_for_registry_level_actions(
    services: Services,
) -> None:
    services.meta.create_repository(A, "app", 0.0)
    services.registry_policies.put(
        A, document("Allow", ROOT_B, ["ecr:BatchGetImage", "ecr:ReplicateImage"], Resource="*")
    )
    b = Caller(B, ROOT_B)
    services.access.authorize(b, A, "app", "ecr:BatchGetImage")  # V2: the policy grants it
    services.settings.put(A, "REGISTRY_POLICY_SCOPE", "V1")
    with pytest.raises(AccessDenied):
        services.access.authorize(b, A, "app", "ecr:BatchGetImage")
    assert services.access.registry_allows(A, ROOT_B, "ecr:ReplicateImage", "app")
    services.settings.put(A, "REGISTRY_POLICY_SCOPE", "V2")
    services.access.authorize(b, A, "app", "ecr:BatchGetImage")


def test_a_policy_that_locks_its_author_out_needs_force(services: Services) -> None:
    services.meta.create_repository(A, "app", 0.0)
    deny_all = document("Deny", "*", ["ecr:*"])
    with pytest.raises(ParameterInvalid) as refused:
        services.admin.set_policy(A, "app", deny_all, force=False, caller=ROOT_A)
    assert "set force to true" in refused.value.message
    assert services.meta.get_repository(A, "app").policy is None  # nothing half-written
    services.admin.set_policy(A, "app", deny_all, force=True, caller=ROOT_A)
    assert services.meta.get_repository(A, "app").policy == deny_all


@pytest.mark.parametrize(
    ("text", "caller", "locked"),
    [
        (document("Deny", "*", ["ecr:SetRepository*"]), ROOT_A, True),
        (document("Deny", ROOT_B, ["ecr:*"]), ROOT_A, False),
        (
            document("Allow", ROOT_B, ["ecr:BatchGetImage"]),
            ROOT_A,
            False,
        ),  # own account: full rights
        (document("Allow", ROOT_B, ["ecr:BatchGetImage"]), ROOT_B, True),  # B could not set again
        (document("Allow", ROOT_B, ["ecr:*"]), ROOT_B, False),
    ],
)
def test_locks_out(text: str, caller: str, locked: bool) -> None:
    assert locks_out(parse_policy(text, PolicyKind.REPOSITORY), caller, A, REPO_ARN) is locked
