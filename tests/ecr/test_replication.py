"""Replication end to end: boto3 configures it, images pushed to account A are copied by the
server's queue to account B of the same server and to a second Dockyard declared as region
eu-west-1, which is down until the test starts it; skopeo pulls the copies back and digests are
compared. A destination whose registry policy says nothing gets FAILED with a reason.

Two real servers on loopback: `source` (us-east-1: accounts A, B and D) and `west` (eu-west-1:
account C), whose port is chosen before the source starts so the source's --config can name it.
The source retries every 0.2-0.5 s (its `[replication]` table), so catching up is quick.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ecr.conftest import ACCOUNT_A, ACCOUNT_B, ALL_KEYS, KEY_A, KEY_B
from tests.support.ecr import (
    REGION,
    AccessKey,
    ecr_client,
    ecr_error,
    push_v2,
    registry_token,
    small_image,
    v2_client,
    wait_for,
    write_auth_file,
)
from tests.support.images import Platform, build_index, digest_of
from tests.support.server import DockyardServer
from tests.support.skopeo import Skopeo

pytestmark = pytest.mark.e2e

WEST = "eu-west-1"
ACCOUNT_C = "333333333333"  # on the west server
ACCOUNT_D = "444444444444"  # on the source server, with no registry policy
KEY_C = AccessKey(ACCOUNT_C, "AKIAE2EACCOUNTCWEST1", "e2e-secret-account-c-west-0123456789abcd")
CATCH_UP = 60.0  # generous: the whole machine is shared; the wait ends as soon as it is done


def _config(path: Path, west: DockyardServer) -> Path:
    path.write_text(f"""
[[regions]]
name = "{WEST}"
url = "{west.url}"
access_key_id = "{KEY_C.access_key_id}"
secret_access_key = "{KEY_C.secret_access_key}"

[replication]
retry_base_seconds = 0.2
retry_max_seconds = 0.5
max_attempts = 10000
poll_seconds = 0.1
""")
    return path


@pytest.fixture(scope="module")
def west() -> Iterator[DockyardServer]:
    """The second Dockyard: configured, NOT started (the remote test starts it)."""
    server = DockyardServer()
    auth = write_auth_file(server.tmp_dir / "auth.toml", (KEY_C,))
    server.extra_args = ["--auth-file", str(auth), "--region", WEST]
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def source(west: DockyardServer) -> Iterator[DockyardServer]:
    server = DockyardServer()
    auth = write_auth_file(server.tmp_dir / "auth.toml", ALL_KEYS)
    config = _config(server.tmp_dir / "dockyard.toml", west)
    server.extra_args = ["--auth-file", str(auth), "--region", REGION, "--config", str(config)]
    server.started()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def ecr_a(source: DockyardServer) -> Any:
    return ecr_client(source.url, KEY_A)


@pytest.fixture(scope="module")
def ecr_b(source: DockyardServer) -> Any:
    return ecr_client(source.url, KEY_B)


@pytest.fixture(scope="module")
def v2_a(source: DockyardServer, ecr_a: Any) -> Iterator[httpx.Client]:
    with v2_client(source.url, registry_token(ecr_a)) as client:
        yield client


def allow_replication_from_a(ecr: Any) -> None:
    ecr.put_registry_policy(
        policyText=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ReplicationFromA",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_A}:root"},
                        "Action": ["ecr:ReplicateImage", "ecr:CreateRepository"],
                        "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT_B}:repository/*",
                    }
                ],
            }
        )
    )


def rule(destinations: list[tuple[str, str]], prefix: str) -> dict:
    return {
        "destinations": [{"region": r, "registryId": a} for r, a in destinations],
        "repositoryFilters": [{"filter": prefix, "filterType": "PREFIX_MATCH"}],
    }


@pytest.fixture(scope="module")
def configured(ecr_a: Any, ecr_b: Any) -> dict:
    allow_replication_from_a(ecr_b)
    ecr_b.create_repository_creation_template(
        prefix="local",
        appliedFor=["REPLICATION"],
        imageTagMutability="IMMUTABLE",
        resourceTags=[{"Key": "made-by", "Value": "replication"}],
    )
    configuration = {
        "rules": [
            rule([(REGION, ACCOUNT_B)], "local/"),
            rule([(REGION, ACCOUNT_D)], "denied/"),
            rule([(WEST, ACCOUNT_C)], "remote/"),
        ]
    }
    answer = ecr_a.put_replication_configuration(replicationConfiguration=configuration)
    assert answer["replicationConfiguration"] == configuration
    return configuration


def statuses(ecr: Any, repo: str, digest: str, registry: str | None = None) -> list[dict]:
    extra = {"registryId": registry} if registry else {}
    answer = ecr.describe_image_replication_status(
        repositoryName=repo, imageId={"imageDigest": digest}, **extra
    )
    return answer["replicationStatuses"]


def settled(ecr: Any, repo: str, digest: str) -> list[dict]:
    """The statuses once none is IN_PROGRESS (or the last seen after CATCH_UP)."""
    found = wait_for(
        lambda: [s for s in statuses(ecr, repo, digest) if s["status"] != "IN_PROGRESS"],
        timeout=CATCH_UP,
    )
    return found or statuses(ecr, repo, digest)


def pull_digest(server: DockyardServer, token: str, ref: str, workdir: Path) -> str:
    """Copy the image (every platform) out with skopeo, then the manifest digest it serves."""
    skopeo, creds = Skopeo(), _creds(token)
    skopeo.run(
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--src-creds",
        creds,
        f"docker://{server.address}/{ref}",
        f"oci:{workdir}:pulled",
    )
    return digest_of(
        skopeo.run(
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            creds,
            f"docker://{server.address}/{ref}",
        )
    )


def _creds(token: str) -> str:
    return base64.b64decode(token).decode()  # "AWS:<password>", as skopeo's --creds wants


def test_describe_registry_shows_the_configuration(ecr_a: Any, configured: dict) -> None:
    assert ecr_a.describe_registry()["replicationConfiguration"] == configured


def test_invalid_configurations_are_refused(ecr_a: Any, configured: dict) -> None:
    for bad, reason in (
        ([(REGION, ACCOUNT_A)], "the same as the source registry"),
        ([("ap-south-1", ACCOUNT_B)], "'ap-south-1' is not a region"),
    ):
        with ecr_error("InvalidParameterException") as refused:
            ecr_a.put_replication_configuration(
                replicationConfiguration={"rules": [rule(bad, "xy")]}
            )
        assert reason in refused.value.response["Error"]["Message"]
    assert ecr_a.describe_registry()["replicationConfiguration"] == configured


def test_an_index_reaches_another_account_through_its_template(
    source: DockyardServer,
    ecr_a: Any,
    ecr_b: Any,
    v2_a: httpx.Client,
    configured: dict,
    tmp_path: Path,
) -> None:
    name = "local/app"
    ecr_a.create_repository(repositoryName=name)
    children = [
        small_image(f"repl-local-{arch}", layers=2, platform=Platform(arch))
        for arch in ("amd64", "arm64")
    ]
    index = build_index(children)
    push_v2(v2_a, name, index, "v1")
    untouched = small_image("repl-not-matched")
    ecr_a.create_repository(repositoryName="elsewhere/app")
    push_v2(v2_a, "elsewhere/app", untouched, "v1")

    assert settled(ecr_a, name, index.digest) == [
        {"region": REGION, "registryId": ACCOUNT_B, "status": "COMPLETE"}
    ]
    assert pull_digest(source, registry_token(ecr_b), f"{name}:v1", tmp_path) == index.digest
    copied = ecr_b.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert copied["imageTagMutability"] == "IMMUTABLE"  # B's REPLICATION template
    tags = ecr_b.list_tags_for_resource(resourceArn=copied["repositoryArn"])["tags"]
    assert tags == [{"Key": "made-by", "Value": "replication"}]
    assert statuses(ecr_a, "elsewhere/app", untouched.digest) == []


def test_no_chains_and_deletes_stay_at_the_source(
    ecr_a: Any, ecr_b: Any, v2_a: httpx.Client, configured: dict
) -> None:
    name = "local/chain"
    ecr_b.put_replication_configuration(
        replicationConfiguration={"rules": [rule([(REGION, ACCOUNT_D)], "local/")]}
    )
    try:
        ecr_a.create_repository(repositoryName=name)
        image = small_image("repl-chain")
        push_v2(v2_a, name, image, "v1")
        assert [s["status"] for s in settled(ecr_a, name, image.digest)] == ["COMPLETE"]
        # B's copy was replication's own write: B's rules do not send it on to D.
        assert statuses(ecr_b, name, image.digest) == []
        ecr_a.batch_delete_image(repositoryName=name, imageIds=[{"imageTag": "v1"}])
        found = ecr_b.batch_get_image(repositoryName=name, imageIds=[{"imageTag": "v1"}])
        assert [i["imageId"]["imageDigest"] for i in found["images"]] == [image.digest]
    finally:
        ecr_b.put_replication_configuration(replicationConfiguration={"rules": []})


def test_a_destination_whose_policy_allows_nothing_fails_with_a_reason(
    ecr_a: Any, v2_a: httpx.Client, configured: dict
) -> None:
    name = "denied/app"
    ecr_a.create_repository(repositoryName=name)
    image = small_image("repl-denied")
    push_v2(v2_a, name, image, "v1")
    (status,) = settled(ecr_a, name, image.digest)
    assert (status["registryId"], status["status"]) == (ACCOUNT_D, "FAILED")
    assert status["failureCode"].startswith("DESTINATION_PERMISSION_DENIED")


def test_under_the_v1_scope_the_registry_policy_still_decides_replication(
    ecr_a: Any, ecr_b: Any, v2_a: httpx.Client, configured: dict
) -> None:
    ecr_b.put_account_setting(name="REGISTRY_POLICY_SCOPE", value="V1")
    try:
        pull = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": ACCOUNT_A},
                        "Action": "ecr:BatchGetImage",
                        "Resource": "*",
                    }
                ],
            }
        )
        with ecr_error(
            "InvalidParameterException",
            "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
            "'Invalid registry policy provided'",
        ):
            ecr_b.put_registry_policy(policyText=pull)
        allow_replication_from_a(ecr_b)  # the V1 actions only: accepted
        name = "local/v1-scope"
        ecr_a.create_repository(repositoryName=name)
        image = small_image("repl-v1")
        push_v2(v2_a, name, image, "v1")
        assert [s["status"] for s in settled(ecr_a, name, image.digest)] == ["COMPLETE"]
    finally:
        ecr_b.put_account_setting(name="REGISTRY_POLICY_SCOPE", value="V2")


def test_a_remote_dockyard_that_was_down_catches_up(
    west: DockyardServer, ecr_a: Any, v2_a: httpx.Client, configured: dict, tmp_path: Path
) -> None:
    name = "remote/app"
    ecr_a.create_repository(repositoryName=name)
    image = small_image("repl-remote", layers=3)
    push_v2(v2_a, name, image, "v1", "stable")
    # West is down: the copy is retried, never given up on or reported done.
    wait_for(lambda: False, timeout=0.6)  # a few retries' worth of the 0.2-0.5 s backoff
    assert [s["status"] for s in statuses(ecr_a, name, image.digest)] == ["IN_PROGRESS"]

    west.start()
    assert settled(ecr_a, name, image.digest) == [
        {"region": WEST, "registryId": ACCOUNT_C, "status": "COMPLETE"}
    ]
    ecr_c = ecr_client(west.url, KEY_C, region=WEST)
    token = registry_token(ecr_c)
    assert pull_digest(west, token, f"{name}:stable", tmp_path) == image.digest
    creds = _creds(token)
    assert (
        digest_of(
            Skopeo().run(
                "inspect",
                "--raw",
                "--tls-verify=false",
                "--creds",
                creds,
                f"docker://{west.address}/{name}:v1",
            )
        )
        == image.digest
    )
    # The repository was created at the destination by replication (no create-on-push there).
    assert (
        ecr_c.describe_repositories(repositoryNames=[name])["repositories"][0]["repositoryName"]
        == name
    )


def test_a_remote_repository_comes_from_its_replication_template_and_keeps_its_tags(
    west: DockyardServer, ecr_a: Any, v2_a: httpx.Client, configured: dict
) -> None:
    if not west.running:
        west.start()  # run alone (-k): the catch-up test starts it otherwise
    ecr_c = ecr_client(west.url, KEY_C, region=WEST)
    ecr_c.create_repository_creation_template(
        prefix="remote/frozen", appliedFor=["REPLICATION"], imageTagMutability="IMMUTABLE"
    )
    name = "remote/frozen/app"
    ecr_a.create_repository(repositoryName=name)
    image = small_image("repl-remote-frozen")
    push_v2(v2_a, name, image, "v1")
    assert [s["status"] for s in settled(ecr_a, name, image.digest)] == ["COMPLETE"]
    (made,) = ecr_c.describe_repositories(repositoryNames=[name])["repositories"]
    assert made["imageTagMutability"] == "IMMUTABLE"
    # Another tag sends the image again: v1 exists there (immutable) and is left as it is.
    push_v2(v2_a, name, image, "v2")
    assert [s["status"] for s in settled(ecr_a, name, image.digest)] == ["COMPLETE"]
    tags = {i.get("imageTag") for i in ecr_c.list_images(repositoryName=name)["imageIds"]}
    assert tags == {"v1", "v2"}
