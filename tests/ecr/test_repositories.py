"""Repository operations through boto3: create, describe, delete, settings, tags, policies.

Expected values come from the ECR API spec (/work/shared/reference/ecr-api-spec.md, section 7.1)
and botocore's model. Account B is used here only by the pagination test, so its registry holds
exactly the repositories that test creates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.ecr.conftest import ACCOUNT_A, ACCOUNT_B
from tests.support import ociapi
from tests.support.ecr import REGION, ecr_error, push_v2, small_image
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e


def arn(account: str, name: str) -> str:
    return f"arn:aws:ecr:{REGION}:{account}:repository/{name}"


def uri(account: str, name: str) -> str:
    return f"{account}.dkr.ecr.{REGION}.amazonaws.com/{name}"


def not_found(name: str, account: str = ACCOUNT_A) -> str:
    return f"The repository with name '{name}' does not exist in the registry with id '{account}'"


def assert_recent(value: Any, before: float, after: float) -> None:
    assert before - 1.0 <= value.timestamp() <= after + 1.0, (value, before, after)


def describe_one(client: Any, name: str) -> dict[str, Any]:
    repositories = client.describe_repositories(repositoryNames=[name])["repositories"]
    assert len(repositories) == 1, repositories
    return repositories[0]


# --------------------------------------------------------------------------- CreateRepository


def test_create_repository_returns_every_field(ecr_a: Any, ecr_server: DockyardServer) -> None:
    name = f"ecr-e2e/team/full-{time.time_ns()}"
    filters = [
        {"filterType": "WILDCARD", "filter": "dev-*"},
        {"filterType": "WILDCARD", "filter": "pr-*"},
    ]
    before = time.time()
    created = ecr_a.create_repository(
        repositoryName=name,
        tags=[{"Key": "team", "Value": "infra"}, {"Key": "cost-center", "Value": "42"}],
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=filters,
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "AES256"},
    )["repository"]
    after = time.time()

    assert created["repositoryArn"] == arn(ACCOUNT_A, name)
    assert created["registryId"] == ACCOUNT_A
    assert created["repositoryName"] == name
    # AWS's form, or the address this registry really serves the repository at.
    assert created["repositoryUri"] in {uri(ACCOUNT_A, name), f"{ecr_server.address}/{name}"}
    assert_recent(created["createdAt"], before, after)
    assert created["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert created["imageTagMutabilityExclusionFilters"] == filters
    assert created["imageScanningConfiguration"] == {"scanOnPush": True}
    assert created["encryptionConfiguration"] == {"encryptionType": "AES256"}

    described = describe_one(ecr_a, name)
    assert described == created
    tags = ecr_a.list_tags_for_resource(resourceArn=created["repositoryArn"])["tags"]
    assert sorted(tags, key=lambda t: t["Key"]) == [
        {"Key": "cost-center", "Value": "42"},
        {"Key": "team", "Value": "infra"},
    ]


def test_create_repository_defaults(ecr_a: Any, new_repo: Callable[..., str]) -> None:
    name = new_repo()
    repository = describe_one(ecr_a, name)
    assert repository["imageTagMutability"] == "MUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in repository
    assert repository["imageScanningConfiguration"] == {"scanOnPush": False}
    assert repository["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert ecr_a.list_tags_for_resource(resourceArn=arn(ACCOUNT_A, name))["tags"] == []


def test_create_repository_kms_key_is_kept(ecr_a: Any) -> None:
    name = f"ecr-e2e/kms-{time.time_ns()}"
    key = f"arn:aws:kms:{REGION}:{ACCOUNT_A}:key/0b9a3c8e-6f7d-4a52-9d3e-1c2b3a4d5e6f"
    created = ecr_a.create_repository(
        repositoryName=name, encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key}
    )["repository"]
    assert created["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key}


@pytest.mark.parametrize(
    "mutability, filters",
    [
        ("IMMUTABLE_WITH_EXCLUSION", None),
        ("MUTABLE_WITH_EXCLUSION", None),
        ("MUTABLE", [{"filterType": "WILDCARD", "filter": "dev-*"}]),
        ("IMMUTABLE", [{"filterType": "WILDCARD", "filter": "dev-*"}]),
    ],
)
def test_create_repository_exclusion_filters_must_match_mutability(
    ecr_a: Any, mutability: str, filters: list[dict[str, str]] | None
) -> None:
    name = f"ecr-e2e/mutability-{time.time_ns()}"
    kwargs: dict[str, Any] = {"imageTagMutability": mutability}
    if filters:
        kwargs["imageTagMutabilityExclusionFilters"] = filters
    with ecr_error("InvalidParameterException"):
        ecr_a.create_repository(repositoryName=name, **kwargs)
    with ecr_error("RepositoryNotFoundException", not_found(name)):
        ecr_a.describe_repositories(repositoryNames=[name])


def test_create_repository_twice_fails(ecr_a: Any, new_repo: Callable[..., str]) -> None:
    name = new_repo()
    message = (
        f"The repository with name '{name}' already exists in the registry with id '{ACCOUNT_A}'"
    )
    with ecr_error("RepositoryAlreadyExistsException", message):
        ecr_a.create_repository(repositoryName=name)


@pytest.mark.parametrize("name", ["Upper/Case", "trailing-", "a//b", "-lead", "sp ace"])
def test_create_repository_rejects_bad_names(ecr_a: Any, name: str) -> None:
    with ecr_error("InvalidParameterException") as info:
        ecr_a.create_repository(repositoryName=name)
    assert info.value.response["Error"]["Message"].startswith(
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: "
    ), info.value.response


def test_create_repository_rejects_unknown_enum_value(ecr_a: Any) -> None:
    with ecr_error("InvalidParameterException") as info:
        ecr_a.create_repository(
            repositoryName=f"ecr-e2e/enum-{time.time_ns()}", imageTagMutability="SOMETIMES"
        )
    assert "imageTagMutability" in info.value.response["Error"]["Message"]


# --------------------------------------------------------------------------- DescribeRepositories


def test_describe_repositories_paginates_two_at_a_time(ecr_b: Any) -> None:
    names = [f"ecr-e2e/page/r{i}-{time.time_ns()}" for i in range(5)]
    for name in names:
        ecr_b.create_repository(repositoryName=name)

    pages = list(
        ecr_b.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 2})
    )
    sizes = [len(page["repositories"]) for page in pages]
    seen = [r["repositoryName"] for page in pages for r in page["repositories"]]
    assert sizes == [2, 2, 1], sizes
    assert sorted(seen) == sorted(names)
    assert all("nextToken" in page for page in pages[:-1])
    assert "nextToken" not in pages[-1]
    for page in pages:
        for repository in page["repositories"]:
            assert repository["registryId"] == ACCOUNT_B
            assert repository["repositoryArn"] == arn(ACCOUNT_B, repository["repositoryName"])


def test_describe_repositories_by_name(ecr_a: Any, new_repo: Callable[..., str]) -> None:
    first, _, third = new_repo(), new_repo(), new_repo()
    found = ecr_a.describe_repositories(repositoryNames=[first, third])["repositories"]
    assert sorted(r["repositoryName"] for r in found) == sorted([first, third])
    assert {r["repositoryArn"] for r in found} == {arn(ACCOUNT_A, first), arn(ACCOUNT_A, third)}
    assert "nextToken" not in ecr_a.describe_repositories(repositoryNames=[first])


def test_describe_repositories_missing_name_fails_whole_call(
    ecr_a: Any, new_repo: Callable[..., str]
) -> None:
    existing = new_repo()
    missing = "ecr-e2e/does-not-exist"
    with ecr_error("RepositoryNotFoundException", not_found(missing)):
        ecr_a.describe_repositories(repositoryNames=[existing, missing])


def test_describe_repositories_names_with_max_results_is_invalid(
    ecr_a: Any, new_repo: Callable[..., str]
) -> None:
    with ecr_error("InvalidParameterException"):
        ecr_a.describe_repositories(repositoryNames=[new_repo()], maxResults=5)


def test_describe_repositories_max_results_above_1000_is_invalid(ecr_a: Any) -> None:
    message = (
        "Invalid parameter at 'maxResults' failed to satisfy constraint: "
        "'Member must have value less than or equal to 1000'"
    )
    with ecr_error("InvalidParameterException", message):
        ecr_a.describe_repositories(maxResults=1001)


# --------------------------------------------------------------------------- DeleteRepository


def test_delete_repository_with_images_needs_force(
    ecr_a: Any, new_repo: Callable[..., str], v2_a: httpx.Client
) -> None:
    name = new_repo(tags=[{"Key": "k", "Value": "v"}])
    image = small_image(f"delete-{name}")
    push_v2(v2_a, name, image, "v1")
    ecr_a.set_repository_policy(repositoryName=name, policyText=POLICY)

    message = (
        f"The repository with name '{name}' in registry with id '{ACCOUNT_A}' "
        "cannot be deleted because it still contains images"
    )
    with ecr_error("RepositoryNotEmptyException", message):
        ecr_a.delete_repository(repositoryName=name)
    assert (
        ecr_a.describe_images(repositoryName=name)["imageDetails"][0]["imageDigest"] == image.digest
    )

    deleted = ecr_a.delete_repository(repositoryName=name, force=True)["repository"]
    assert deleted["repositoryName"] == name
    assert deleted["repositoryArn"] == arn(ACCOUNT_A, name)
    assert deleted["registryId"] == ACCOUNT_A
    with ecr_error("RepositoryNotFoundException", not_found(name)):
        ecr_a.describe_repositories(repositoryNames=[name])
    with ecr_error("RepositoryNotFoundException", not_found(name)):
        ecr_a.describe_images(repositoryName=name)
    gone = v2_a.get(ociapi.manifest_url(name, "v1"), headers={"Accept": ociapi.MANIFEST_ACCEPT})
    assert gone.status_code == 404, ociapi.describe(gone)
    assert gone.json()["errors"][0]["code"] == "NAME_UNKNOWN", ociapi.describe(gone)

    # A repository created again under the name starts empty: no images, tags or policy.
    ecr_a.create_repository(repositoryName=name)
    assert ecr_a.describe_images(repositoryName=name)["imageDetails"] == []
    assert ecr_a.list_tags_for_resource(resourceArn=arn(ACCOUNT_A, name))["tags"] == []
    with ecr_error("RepositoryPolicyNotFoundException"):
        ecr_a.get_repository_policy(repositoryName=name)
    tag = v2_a.get(ociapi.manifest_url(name, "v1"), headers={"Accept": ociapi.MANIFEST_ACCEPT})
    assert tag.status_code == 404, ociapi.describe(tag)


def test_delete_empty_repository(ecr_a: Any, new_repo: Callable[..., str]) -> None:
    name = new_repo()
    assert ecr_a.delete_repository(repositoryName=name)["repository"]["repositoryName"] == name
    with ecr_error("RepositoryNotFoundException", not_found(name)):
        ecr_a.delete_repository(repositoryName=name)


# --------------------------------------------------------------------------- settings


def test_put_image_tag_mutability(ecr_a: Any, new_repo: Callable[..., str]) -> None:
    name = new_repo()
    filters = [{"filterType": "WILDCARD", "filter": "latest"}]
    answer = ecr_a.put_image_tag_mutability(
        repositoryName=name,
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=filters,
    )
    answer.pop("ResponseMetadata")
    assert answer == {
        "registryId": ACCOUNT_A,
        "repositoryName": name,
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": filters,
    }
    repository = describe_one(ecr_a, name)
    assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repository["imageTagMutabilityExclusionFilters"] == filters

    answer = ecr_a.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
    assert answer["imageTagMutability"] == "IMMUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in answer
    repository = describe_one(ecr_a, name)
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in repository

    with ecr_error("InvalidParameterException"):
        ecr_a.put_image_tag_mutability(
            repositoryName=name, imageTagMutability="MUTABLE_WITH_EXCLUSION"
        )
    with ecr_error("RepositoryNotFoundException", not_found("ecr-e2e/nope")):
        ecr_a.put_image_tag_mutability(repositoryName="ecr-e2e/nope", imageTagMutability="MUTABLE")


def test_put_image_scanning_configuration(ecr_a: Any, new_repo: Callable[..., str]) -> None:
    name = new_repo()
    answer = ecr_a.put_image_scanning_configuration(
        repositoryName=name, imageScanningConfiguration={"scanOnPush": True}
    )
    answer.pop("ResponseMetadata")
    assert answer == {
        "registryId": ACCOUNT_A,
        "repositoryName": name,
        "imageScanningConfiguration": {"scanOnPush": True},
    }
    assert describe_one(ecr_a, name)["imageScanningConfiguration"] == {"scanOnPush": True}
    ecr_a.put_image_scanning_configuration(
        repositoryName=name, imageScanningConfiguration={"scanOnPush": False}
    )
    assert describe_one(ecr_a, name)["imageScanningConfiguration"] == {"scanOnPush": False}


# --------------------------------------------------------------------------- resource tags


def test_tag_untag_and_list_tags(ecr_a: Any, new_repo: Callable[..., str]) -> None:
    name = new_repo(tags=[{"Key": "team", "Value": "infra"}])
    resource = arn(ACCOUNT_A, name)

    def tags() -> list[dict[str, str]]:
        found = ecr_a.list_tags_for_resource(resourceArn=resource)["tags"]
        return sorted(found, key=lambda t: t["Key"])

    answer = ecr_a.tag_resource(
        resourceArn=resource,
        tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "platform"}],
    )
    answer.pop("ResponseMetadata")
    assert answer == {}
    assert tags() == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "platform"}]

    answer = ecr_a.untag_resource(resourceArn=resource, tagKeys=["env", "not-there"])
    answer.pop("ResponseMetadata")
    assert answer == {}
    assert tags() == [{"Key": "team", "Value": "platform"}]


def test_tagging_errors(ecr_a: Any) -> None:
    missing = arn(ACCOUNT_A, "ecr-e2e/never-created")
    with ecr_error("RepositoryNotFoundException"):
        ecr_a.list_tags_for_resource(resourceArn=missing)
    with ecr_error("RepositoryNotFoundException"):
        ecr_a.tag_resource(resourceArn=missing, tags=[{"Key": "a", "Value": "b"}])
    with ecr_error("InvalidParameterException"):
        ecr_a.list_tags_for_resource(resourceArn="not-an-arn")


def test_too_many_tags(ecr_a: Any, new_repo: Callable[..., str]) -> None:
    name = new_repo()
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    with ecr_error("TooManyTagsException"):
        ecr_a.tag_resource(resourceArn=arn(ACCOUNT_A, name), tags=tags)
    assert ecr_a.list_tags_for_resource(resourceArn=arn(ACCOUNT_A, name))["tags"] == []


# --------------------------------------------------------------------------- repository policy

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowPull",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        ],
    },
    indent=2,
)


def test_repository_policy_lifecycle(ecr_a: Any, new_repo: Callable[..., str]) -> None:
    name = new_repo()
    message = (
        f"Repository policy does not exist for the repository with name '{name}' "
        f"in the registry with id '{ACCOUNT_A}'"
    )
    with ecr_error("RepositoryPolicyNotFoundException", message):
        ecr_a.get_repository_policy(repositoryName=name)
    with ecr_error("RepositoryPolicyNotFoundException", message):
        ecr_a.delete_repository_policy(repositoryName=name)

    answer = ecr_a.set_repository_policy(repositoryName=name, policyText=POLICY)
    assert answer["registryId"] == ACCOUNT_A
    assert answer["repositoryName"] == name
    assert json.loads(answer["policyText"]) == json.loads(POLICY)

    got = ecr_a.get_repository_policy(repositoryName=name)
    assert (got["registryId"], got["repositoryName"]) == (ACCOUNT_A, name)
    assert json.loads(got["policyText"]) == json.loads(POLICY)

    deleted = ecr_a.delete_repository_policy(repositoryName=name)
    assert (deleted["registryId"], deleted["repositoryName"]) == (ACCOUNT_A, name)
    assert json.loads(deleted["policyText"]) == json.loads(POLICY)
    with ecr_error("RepositoryPolicyNotFoundException", message):
        ecr_a.get_repository_policy(repositoryName=name)


def test_repository_policy_must_be_json(ecr_a: Any, new_repo: Callable[..., str]) -> None:
    name = new_repo()
    with ecr_error("InvalidParameterException"):
        ecr_a.set_repository_policy(repositoryName=name, policyText="{not json")
    with ecr_error("RepositoryPolicyNotFoundException"):
        ecr_a.get_repository_policy(repositoryName=name)
    with ecr_error("RepositoryNotFoundException", not_found("ecr-e2e/nope")):
        ecr_a.set_repository_policy(repositoryName="ecr-e2e/nope", policyText=POLICY)


# --------------------------------------------------------------------------- registry, account


def test_describe_registry(ecr_a: Any, ecr_b: Any) -> None:
    for client, account in ((ecr_a, ACCOUNT_A), (ecr_b, ACCOUNT_B)):
        answer = client.describe_registry()
        assert answer["registryId"] == account
        assert answer.get("replicationConfiguration", {"rules": []}) == {"rules": []}


def test_account_settings_round_trip_per_account(ecr_a: Any, ecr_b: Any) -> None:
    default = ecr_b.get_account_setting(name="BLOB_MOUNTING")
    assert default["name"] == "BLOB_MOUNTING"
    assert default["value"] in {"ENABLED", "DISABLED"}
    for value in ("DISABLED", "ENABLED", "DISABLED"):
        answer = ecr_a.put_account_setting(name="BLOB_MOUNTING", value=value)
        assert (answer["name"], answer["value"]) == ("BLOB_MOUNTING", value)
        answer = ecr_a.get_account_setting(name="BLOB_MOUNTING")
        assert (answer["name"], answer["value"]) == ("BLOB_MOUNTING", value)
        # Account B's setting is its own.
        assert ecr_b.get_account_setting(name="BLOB_MOUNTING")["value"] == default["value"]


def test_account_setting_errors(ecr_a: Any) -> None:
    with pytest.raises(ClientError) as info:
        ecr_a.put_account_setting(name="BLOB_MOUNTING", value="SOMETIMES")
    assert info.value.response["Error"]["Code"] in {
        "InvalidParameterException",
        "ValidationException",
    }
    with pytest.raises(ClientError) as info:
        ecr_a.get_account_setting(name="NO_SUCH_SETTING")
    assert info.value.response["Error"]["Code"] in {
        "InvalidParameterException",
        "ValidationException",
    }
    assert ecr_a.get_account_setting(name="BLOB_MOUNTING")["value"] in {"ENABLED", "DISABLED"}
