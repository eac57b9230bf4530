"""Repository creation templates end to end: the four operations with ECR's errors, and create on
push shaped by the matching CREATE_ON_PUSH template (tag mutability, repository policy, resource
tags), seen through DescribeRepositories, GetRepositoryPolicy and ListTagsForResource.

The server runs without --create-on-push (conftest), so only templates create repositories here.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.ecr.conftest import ACCOUNT_A, ACCOUNT_B, KEY_A
from tests.support import ociapi
from tests.support.ecr import (
    REGION,
    ecr_client,
    ecr_error,
    push_v2,
    small_image,
    upload_layer_ecr,
    v2_client,
)
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e
_ids = itertools.count()

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "pull",
                "Effect": "Allow",
                "Principal": {"AWS": ACCOUNT_B},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        ],
    }
)
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


@pytest.fixture
def prefix(ecr_a: Any) -> Any:
    name = f"tpl{next(_ids)}-{id(ecr_a) % 10000}"
    yield name
    for template in ecr_a.describe_repository_creation_templates(prefixes=[name])[
        "repositoryCreationTemplates"
    ]:
        ecr_a.delete_repository_creation_template(prefix=template["prefix"])


def test_template_operations_round_trip(ecr_a: Any, prefix: str) -> None:
    created = ecr_a.create_repository_creation_template(
        prefix=prefix,
        appliedFor=["CREATE_ON_PUSH", "REPLICATION"],
        description="team repos",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"}],
        repositoryPolicy=POLICY,
        lifecyclePolicy=LIFECYCLE,
        resourceTags=[{"Key": "team", "Value": "a"}],
        encryptionConfiguration={"encryptionType": "AES256"},
        customRoleArn=f"arn:aws:iam::{ACCOUNT_A}:role/ecr-templates",
    )
    assert created["registryId"] == ACCOUNT_A
    template = created["repositoryCreationTemplate"]
    assert template["prefix"] == prefix and template["appliedFor"] == [
        "CREATE_ON_PUSH",
        "REPLICATION",
    ]
    assert (template["repositoryPolicy"], template["lifecyclePolicy"]) == (POLICY, LIFECYCLE)
    assert template["customRoleArn"] == f"arn:aws:iam::{ACCOUNT_A}:role/ecr-templates"
    assert template["imageTagMutabilityExclusionFilters"] == [
        {"filterType": "WILDCARD", "filter": "latest"}
    ]
    with ecr_error("TemplateAlreadyExistsException"):
        ecr_a.create_repository_creation_template(prefix=prefix, appliedFor=["CREATE_ON_PUSH"])

    updated = ecr_a.update_repository_creation_template(
        prefix=prefix, imageTagMutability="MUTABLE", description="changed"
    )["repositoryCreationTemplate"]
    assert (updated["description"], updated["imageTagMutability"]) == ("changed", "MUTABLE")
    assert updated["repositoryPolicy"] == POLICY  # untouched members stay
    assert updated["createdAt"] == template["createdAt"]
    (described,) = ecr_a.describe_repository_creation_templates(prefixes=[prefix])[
        "repositoryCreationTemplates"
    ]
    assert described["description"] == "changed"

    deleted = ecr_a.delete_repository_creation_template(prefix=prefix)
    assert deleted["repositoryCreationTemplate"]["prefix"] == prefix
    with ecr_error("TemplateNotFoundException"):
        ecr_a.delete_repository_creation_template(prefix=prefix)
    with ecr_error("TemplateNotFoundException"):
        ecr_a.update_repository_creation_template(prefix=prefix, description="x")


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ({"repositoryPolicy": "{not json"}, "Invalid repository policy provided"),
        ({"lifecyclePolicy": "[]"}, "Lifecycle policy validation failure"),
        ({"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}, "imageTagMutabilityExclusionFilters"),
        ({"resourceTags": [{"Key": "aws:reserved", "Value": "x"}]}, "reserved"),
    ],
)
def test_invalid_templates_are_refused(ecr_a: Any, prefix: str, members: dict, why: str) -> None:
    with pytest.raises(ClientError) as info:
        ecr_a.create_repository_creation_template(
            prefix=prefix, appliedFor=["CREATE_ON_PUSH"], **members
        )
    assert why in str(info.value)
    assert (
        ecr_a.describe_repository_creation_templates(prefixes=[prefix])[
            "repositoryCreationTemplates"
        ]
        == []
    )


def test_model_limits_are_checked_by_the_server(ecr_server: DockyardServer, prefix: str) -> None:
    raw = ecr_client(ecr_server.url, KEY_A, parameter_validation=False)
    with ecr_error("InvalidParameterException"):
        raw.create_repository_creation_template(
            prefix="Not A Prefix", appliedFor=["CREATE_ON_PUSH"]
        )
    with ecr_error("InvalidParameterException"):
        raw.create_repository_creation_template(prefix=prefix, appliedFor=["SOMETIMES"])


def test_create_on_push_applies_the_longest_matching_template(
    ecr_a: Any, v2_a: httpx.Client, prefix: str
) -> None:
    ecr_a.create_repository_creation_template(
        prefix=prefix, appliedFor=["CREATE_ON_PUSH"], imageTagMutability="MUTABLE"
    )
    ecr_a.create_repository_creation_template(
        prefix=f"{prefix}/team",
        appliedFor=["CREATE_ON_PUSH"],
        imageTagMutability="IMMUTABLE",
        repositoryPolicy=POLICY,
        resourceTags=[{"Key": "team", "Value": "payments"}],
    )
    try:
        name = f"{prefix}/team/app"
        image = small_image(f"template-{name}")
        push_v2(v2_a, name, image, "v1")
        (repo,) = ecr_a.describe_repositories(repositoryNames=[name])["repositories"]
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert ecr_a.get_repository_policy(repositoryName=name)["policyText"] == POLICY
        arn = f"arn:aws:ecr:{REGION}:{ACCOUNT_A}:repository/{name}"
        assert ecr_a.list_tags_for_resource(resourceArn=arn)["tags"] == [
            {"Key": "team", "Value": "payments"}
        ]

        other = f"{prefix}/web"  # the shorter prefix: plain MUTABLE, no policy, no tags
        web = small_image(f"template-{other}")
        for blob in web.blobs:  # InitiateLayerUpload is a first write: it creates
            upload_layer_ecr(ecr_a, other, blob.data)
        ecr_a.put_image(
            repositoryName=other,
            imageManifest=web.manifest.data.decode(),
            imageManifestMediaType=web.manifest.media_type,
            imageTag="v1",
        )
        (plain,) = ecr_a.describe_repositories(repositoryNames=[other])["repositories"]
        assert plain["imageTagMutability"] == "MUTABLE"
        with ecr_error("RepositoryPolicyNotFoundException"):
            ecr_a.get_repository_policy(repositoryName=other)
    finally:
        ecr_a.delete_repository_creation_template(prefix=f"{prefix}/team")
        for name in (f"{prefix}/team/app", f"{prefix}/web"):
            ecr_a.delete_repository(repositoryName=name, force=True)


def test_push_without_a_matching_template_is_refused(
    ecr_a: Any, v2_a: httpx.Client, prefix: str
) -> None:
    ecr_a.create_repository_creation_template(prefix=prefix, appliedFor=["PULL_THROUGH_CACHE"])
    name = f"{prefix}/app"
    image = small_image(f"no-template-{name}")
    answer = v2_a.post(ociapi.upload_url(name))
    assert answer.status_code == 404 and answer.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    put = v2_a.put(
        ociapi.manifest_url(name, "v1"),
        content=image.manifest.data,
        headers={"Content-Type": image.manifest.media_type},
    )
    assert put.status_code == 404, ociapi.describe(put)
    with ecr_error("RepositoryNotFoundException"):
        ecr_a.describe_repositories(repositoryNames=[name])


def test_another_account_creates_on_push_only_with_a_registry_policy(
    ecr_server: DockyardServer, ecr_a: Any, ecr_b: Any, prefix: str
) -> None:
    ecr_a.create_repository_creation_template(prefix=prefix, appliedFor=["CREATE_ON_PUSH"])
    name = f"{prefix}/from-b"
    resource = f"arn:aws:ecr:{REGION}:{ACCOUNT_A}:repository/{prefix}/*"
    push_actions = [
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
        "ecr:BatchCheckLayerAvailability",
    ]
    grant = {"Effect": "Allow", "Principal": {"AWS": ACCOUNT_B}, "Resource": resource}
    ecr_a.put_registry_policy(
        policyText=json.dumps(
            {"Version": "2012-10-17", "Statement": [{**grant, "Action": push_actions}]}
        )
    )
    (data,) = ecr_b.get_authorization_token(registryIds=[ACCOUNT_A])["authorizationData"]
    image = small_image(f"cross-{name}")
    try:
        with v2_client(ecr_server.url, data["authorizationToken"]) as b_on_a:
            refused = b_on_a.post(ociapi.upload_url(name))
            assert refused.status_code == 403, ociapi.describe(refused)
            assert "ecr:CreateRepository" in refused.json()["errors"][0]["message"]
            ecr_a.put_registry_policy(
                policyText=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{**grant, "Action": [*push_actions, "ecr:CreateRepository"]}],
                    }
                )
            )
            push_v2(b_on_a, name, image, "v1")
        (detail,) = ecr_a.describe_images(repositoryName=name)["imageDetails"]
        assert detail["imageDigest"] == image.digest
    finally:
        ecr_a.delete_registry_policy()
    ecr_a.delete_repository(repositoryName=name, force=True)
