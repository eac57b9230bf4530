"""Pull-time update exclusions: Register/Deregister/ListPullTimeUpdateExclusions and their effect.

botocore's model: `RegisterPullTimeUpdateExclusion(principalArn)` -> `{principalArn, createdAt}`,
`DeregisterPullTimeUpdateExclusion(principalArn)` -> `{principalArn}`,
`ListPullTimeUpdateExclusions(maxResults, nextToken)` -> `{pullTimeUpdateExclusions: [arn],
nextToken}`. `PrincipalArn` has the pattern
`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/[\\w+=,.@-]+(/[\\w+=,.@-]+)*$`: only IAM users and
roles can be excluded, never an account root (`arn:aws:iam::<account>:root`).

The auth file gives account A a second key for the IAM user `puller`
(`arn:aws:iam::111111111111:user/puller`); its pulls, through BatchGetImage or through `/v2/`
with its own registry token, must not move lastRecordedPullTime once it is excluded.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.ecr.conftest import ACCOUNT_A, KEY_A_PULLER
from tests.support import ociapi
from tests.support.ecr import (
    ecr_error,
    push_v2,
    registry_token,
    small_image,
    v2_client,
    wait_for,
)

pytestmark = pytest.mark.e2e

PULLER = KEY_A_PULLER.principal_arn
assert PULLER == f"arn:aws:iam::{ACCOUNT_A}:user/puller"


def exclusions(client: Any, **kwargs: Any) -> list[str]:
    return client.list_pull_time_update_exclusions(**kwargs)["pullTimeUpdateExclusions"]


def pull_time(client: Any, repo: str, digest: str) -> float | None:
    (detail,) = client.describe_images(repositoryName=repo, imageIds=[{"imageDigest": digest}])[
        "imageDetails"
    ]
    value = detail.get("lastRecordedPullTime")
    return value.timestamp() if value else None


def test_register_list_deregister(ecr_a: Any, ecr_b: Any) -> None:
    role = f"arn:aws:iam::{ACCOUNT_A}:role/ci/builder"
    user = f"arn:aws:iam::{ACCOUNT_A}:user/scanner"
    before = time.time()
    answer = ecr_a.register_pull_time_update_exclusion(principalArn=role)
    assert answer["principalArn"] == role
    assert before - 1 <= answer["createdAt"].timestamp() <= time.time() + 1
    ecr_a.register_pull_time_update_exclusion(principalArn=user)
    with ecr_error("ExclusionAlreadyExistsException"):
        ecr_a.register_pull_time_update_exclusion(principalArn=role)

    assert {role, user} <= set(exclusions(ecr_a))
    assert role not in exclusions(ecr_b) and user not in exclusions(ecr_b)

    first = ecr_a.list_pull_time_update_exclusions(maxResults=1)
    assert len(first["pullTimeUpdateExclusions"]) == 1 and first.get("nextToken")
    listed = list(first["pullTimeUpdateExclusions"])
    token = first["nextToken"]
    while token:
        page = ecr_a.list_pull_time_update_exclusions(maxResults=1, nextToken=token)
        listed += page["pullTimeUpdateExclusions"]
        token = page.get("nextToken")
    assert sorted(listed) == sorted(exclusions(ecr_a))
    assert len(listed) == len(set(listed))

    answer = ecr_a.deregister_pull_time_update_exclusion(principalArn=role)
    assert answer["principalArn"] == role
    assert role not in exclusions(ecr_a)
    with ecr_error("ExclusionNotFoundException"):
        ecr_a.deregister_pull_time_update_exclusion(principalArn=role)
    ecr_a.deregister_pull_time_update_exclusion(principalArn=user)


@pytest.mark.parametrize(
    "principal",
    [f"arn:aws:iam::{ACCOUNT_A}:root", "puller", f"arn:aws:iam::{ACCOUNT_A}:group/devs"],
)
def test_only_user_and_role_arns_can_be_excluded(ecr_a: Any, principal: str) -> None:
    with ecr_error("InvalidParameterException"):
        ecr_a.register_pull_time_update_exclusion(principalArn=principal)
    assert principal not in exclusions(ecr_a)


def test_excluded_principal_does_not_move_pull_time(
    ecr_a: Any, ecr_puller: Any, ecr_server: Any, v2_a: httpx.Client, repo: str
) -> None:
    watched, later = small_image("excluded-pulls"), small_image("after-deregistration")
    push_v2(v2_a, repo, watched, "watched")
    push_v2(v2_a, repo, later, "later")
    ecr_a.register_pull_time_update_exclusion(principalArn=PULLER)
    try:
        with v2_client(ecr_server.url, registry_token(ecr_puller)) as puller_v2:
            ociapi.fetch_manifest(puller_v2, repo, "watched")
            ociapi.fetch_manifest(puller_v2, repo, watched.digest)
        got = ecr_puller.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "watched"}])
        assert [i["imageId"]["imageDigest"] for i in got["images"]] == [watched.digest]
        time.sleep(2.5)  # more than the server's pull-time flush interval (about 1 s)
        assert pull_time(ecr_a, repo, watched.digest) is None, "an excluded pull was recorded"

        # The root key is not excluded: its pull is recorded.
        ociapi.fetch_manifest(v2_a, repo, "watched")
        assert wait_for(lambda: pull_time(ecr_a, repo, watched.digest)), "root pull not recorded"
    finally:
        ecr_a.deregister_pull_time_update_exclusion(principalArn=PULLER)

    # Deregistered: the puller's pulls count again.
    pulled_at = time.time()
    ecr_puller.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "later"}])
    recorded = wait_for(lambda: pull_time(ecr_a, repo, later.digest), timeout=4.0)
    assert recorded, "a pull by a no longer excluded principal was not recorded"
    assert recorded >= pulled_at - 1
