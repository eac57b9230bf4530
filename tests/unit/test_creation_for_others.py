"""templates.create_repository_for, the entry point pull-through cache and replication use, and
AccessControl.registry_allows, over a real SQLite metadata store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.app import create_services
from dockyard.domain.errors import AccessDenied, LifecyclePolicyInvalid
from dockyard.domain.templates import AppliedFor, CreationTemplate
from dockyard.services.audit import acting_as
from dockyard.services.composition import Services
from dockyard.settings import Settings

A, B = "111111111111", "222222222222"
ROOT_B = f"arn:aws:iam::{B}:root"


@pytest.fixture
def services(tmp_path: Path) -> Services:
    auth = tmp_path / "auth.toml"
    auth.write_text(
        f'[[accounts]]\nid = "{A}"\n[[accounts.keys]]\naccess_key_id = "AKIAA"\n'
        f'secret_access_key = "a"\n[[accounts]]\nid = "{B}"\n'
        '[[accounts.keys]]\naccess_key_id = "AKIAB"\nsecret_access_key = "b"\n'
    )
    svc = create_services(Settings(data_dir=tmp_path / "data", auth_file=auth))
    yield svc
    svc.meta.close()


def test_without_a_template_pull_through_and_replication_get_defaults(services: Services) -> None:
    repo = services.templates.create_repository_for(
        A, "cache/library/alpine", AppliedFor.PULL_THROUGH_CACHE
    )
    assert repo is not None and repo.tag_mutability == "MUTABLE" and repo.policy is None
    assert (
        services.templates.create_repository_for(A, "pushed/app", AppliedFor.CREATE_ON_PUSH) is None
    )
    assert services.meta.get_repository(A, "pushed/app") is None


def test_a_replication_template_shapes_the_repository(services: Services) -> None:
    policy = json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}]}
    )
    services.templates.create(
        A,
        CreationTemplate(
            "mirror",
            (AppliedFor.REPLICATION,),
            tag_mutability="IMMUTABLE",
            resource_tags={"copy": "yes"},
            repository_policy=policy,
        ),
    )
    applied: list[tuple[str, str]] = []
    services.templates.apply_lifecycle_policy = lambda repo, text: applied.append((repo.name, text))
    repo = services.templates.create_repository_for(A, "mirror/app", AppliedFor.REPLICATION)
    assert repo is not None and (repo.tag_mutability, repo.policy) == ("IMMUTABLE", policy)
    assert services.meta.resource_tags(repo.id) == {"copy": "yes"}
    assert applied == []  # the template has no lifecycle policy
    again = services.templates.create_repository_for(A, "mirror/app", AppliedFor.REPLICATION)
    assert again is not None and again.id == repo.id  # exists: returned as it is


LIFECYCLE = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "imageCountMoreThan",
                    "countNumber": 5,
                },
                "action": {"type": "expire"},
            }
        ]
    }
)


def test_lifecycle_policy_goes_through_the_hook(services: Services) -> None:
    text = LIFECYCLE
    services.templates.create(
        A, CreationTemplate("ROOT", (AppliedFor.CREATE_ON_PUSH,), lifecycle_policy=text)
    )
    applied: list[tuple[str, str]] = []
    services.templates.apply_lifecycle_policy = lambda repo, t: applied.append((repo.name, t))
    services.templates.create_repository_for(A, "any/name", AppliedFor.CREATE_ON_PUSH)
    assert applied == [("any/name", text)]


def test_the_template_s_lifecycle_policy_is_the_new_repository_s(services: Services) -> None:
    services.templates.create(
        A, CreationTemplate("ROOT", (AppliedFor.CREATE_ON_PUSH,), lifecycle_policy=LIFECYCLE)
    )
    services.templates.create_repository_for(A, "with/policy", AppliedFor.CREATE_ON_PUSH)
    _, record = services.lifecycle.get_policy(A, "with/policy")
    assert record.text == LIFECYCLE


def test_a_template_with_an_invalid_lifecycle_policy_is_refused(services: Services) -> None:
    with pytest.raises(LifecyclePolicyInvalid):
        services.templates.create(
            A,
            CreationTemplate(
                "ROOT", (AppliedFor.CREATE_ON_PUSH,), lifecycle_policy='{"rules": []}'
            ),
        )


def test_registry_allows_registry_level_actions(services: Services) -> None:
    access = services.access
    assert access.registry_allows(A, f"arn:aws:iam::{A}:user/ci", "ecr:ReplicateImage")
    assert not access.registry_allows(A, ROOT_B, "ecr:ReplicateImage")
    services.registry_policies.put(
        A,
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": B},
                        "Action": ["ecr:ReplicateImage", "ecr:CreateRepository"],
                        "Resource": f"arn:aws:ecr:us-east-1:{A}:repository/*",
                    },
                    {
                        "Effect": "Deny",
                        "Principal": {"AWS": f"arn:aws:iam::{A}:user/ci"},
                        "Action": "ecr:*",
                        "Resource": "*",
                    },
                ],
            }
        ),
    )
    assert access.registry_allows(A, ROOT_B, "ecr:ReplicateImage")
    assert not access.registry_allows(A, ROOT_B, "ecr:BatchImportUpstreamImage")
    assert not access.registry_allows(A, f"arn:aws:iam::{A}:user/ci", "ecr:ReplicateImage")
    with acting_as(B, ROOT_B):
        assert (
            services.templates.create_repository_for(A, "from-b/app", AppliedFor.REPLICATION)
            is not None
        )


def test_another_account_without_create_repository_is_refused(services: Services) -> None:
    with acting_as(B, ROOT_B), pytest.raises(AccessDenied):
        services.templates.create_repository_for(A, "from-b/app", AppliedFor.REPLICATION)
    assert services.meta.get_repository(A, "from-b/app") is None
