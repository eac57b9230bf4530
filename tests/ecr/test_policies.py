"""Cross-account access by policy, end to end: boto3, skopeo and raw `/v2/` against a real server.

Account B pulls from account A's repository with skopeo once A's repository policy allows it
(with a token from GetAuthorizationToken(registryIds=[A])), and is refused again after a Deny; a
read-only key (a Deny of the push actions for its principal) pulls but cannot push; BatchGetImage
by `registryId`; the `<account>.<host>` addressing; the registry policy operations and a
registry policy granting B every repository. The module has its own server (module-scoped
fixture), so the registry policies it sets touch no other module.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ecr.conftest import ACCOUNT_A, ACCOUNT_B, KEY_A_PULLER
from tests.support import ociapi
from tests.support.ecr import (
    REGION,
    ecr_client,
    ecr_error,
    push_ecr,
    push_v2,
    registry_token,
    small_image,
    v2_client,
)
from tests.support.server import DockyardServer
from tests.support.skopeo import Skopeo, SkopeoError

pytestmark = pytest.mark.e2e

PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
PUSH = ["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"]


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def statement(effect: str, principal: str, actions: list[str] | str, **more: Any) -> dict:
    return {"Effect": effect, "Principal": {"AWS": principal}, "Action": actions, **more}


def token_for(client: Any, registry: str) -> tuple[str, str]:
    """(token, proxyEndpoint) of GetAuthorizationToken(registryIds=[registry])."""
    (data,) = client.get_authorization_token(registryIds=[registry])["authorizationData"]
    return data["authorizationToken"], data["proxyEndpoint"]


def skopeo_creds(token: str) -> str:
    return base64.b64decode(token).decode()  # "AWS:<password>", as skopeo's --creds wants


@pytest.fixture
def pushed(ecr_a: Any, v2_a: httpx.Client, new_repo: Any) -> tuple[str, Any]:
    name = new_repo()
    image = small_image(f"policy-{name}", layers=2)
    push_v2(v2_a, name, image, "v1")
    return name, image


def test_b_pulls_with_skopeo_after_allow_and_is_refused_after_deny(
    ecr_server: DockyardServer, ecr_a: Any, ecr_b: Any, pushed: tuple[str, Any], tmp_path: Path
) -> None:
    name, image = pushed
    token, endpoint = token_for(ecr_b, ACCOUNT_A)
    assert endpoint == ecr_server.url  # an IP host cannot name the account; the token does
    source = f"docker://{ecr_server.address}/{name}:v1"
    skopeo = Skopeo()
    creds = skopeo_creds(token)

    with pytest.raises(SkopeoError) as refused:
        skopeo.run("inspect", "--tls-verify=false", "--raw", "--creds", creds, source)
    assert "denied" in refused.value.stderr.lower() or "403" in refused.value.stderr

    ecr_a.set_repository_policy(
        repositoryName=name,
        policyText=policy(statement("Allow", f"arn:aws:iam::{ACCOUNT_B}:root", PULL)),
    )
    skopeo.copy(source, f"oci:{tmp_path / 'pulled'}:v1", "--src-creds", creds)
    assert (
        skopeo.run("inspect", "--tls-verify=false", "--raw", "--creds", creds, source)
        == image.manifest.data
    )
    # B's own token still addresses B's registry, where there is no such repository.
    own = skopeo_creds(registry_token(ecr_b))
    with pytest.raises(SkopeoError):
        skopeo.run("inspect", "--tls-verify=false", "--raw", "--creds", own, source)

    ecr_a.set_repository_policy(
        repositoryName=name,
        policyText=policy(
            statement("Allow", "*", "ecr:*"), statement("Deny", ACCOUNT_B, ["ecr:BatchGetImage"])
        ),
    )
    with pytest.raises(SkopeoError):
        skopeo.copy(source, f"oci:{tmp_path / 'again'}:v1", "--src-creds", creds)


def test_b_cannot_push_into_a_with_a_pull_policy(
    ecr_server: DockyardServer, ecr_a: Any, ecr_b: Any, pushed: tuple[str, Any]
) -> None:
    name, _ = pushed
    ecr_a.set_repository_policy(
        repositoryName=name, policyText=policy(statement("Allow", ACCOUNT_B, PULL))
    )
    token, _ = token_for(ecr_b, ACCOUNT_A)
    with v2_client(ecr_server.url, token) as b_on_a:
        assert (
            b_on_a.get(
                ociapi.manifest_url(name, "v1"), headers={"Accept": ociapi.MANIFEST_ACCEPT}
            ).status_code
            == 200
        )
        refused = b_on_a.post(ociapi.upload_url(name))
        assert refused.status_code == 403, ociapi.describe(refused)
        assert refused.json()["errors"][0]["code"] == "DENIED"
        assert "ecr:InitiateLayerUpload" in refused.json()["errors"][0]["message"]
        assert b_on_a.get(f"/v2/{name}/tags/list").status_code == 403  # ecr:ListImages


def test_read_only_key_by_deny_pulls_but_cannot_push(
    ecr_server: DockyardServer, ecr_a: Any, ecr_puller: Any, pushed: tuple[str, Any]
) -> None:
    name, image = pushed
    ecr_a.set_repository_policy(
        repositoryName=name,
        policyText=policy(
            statement("Deny", KEY_A_PULLER.principal_arn, PUSH + ["ecr:BatchDeleteImage"])
        ),
    )
    other = small_image(f"policy-ro-{name}")
    with ecr_error("AccessDeniedException") as info:
        push_ecr(ecr_puller, name, other, "v2")
    assert "with an explicit deny" in str(info.value)
    with v2_client(ecr_server.url, registry_token(ecr_puller)) as puller:
        assert ociapi.fetch_manifest(puller, name, "v1").content == image.manifest.data
        for blob in image.blobs:
            assert ociapi.fetch_blob(puller, name, blob.digest) == blob.data
        put = puller.put(
            ociapi.manifest_url(name, "v9"),
            content=image.manifest.data,
            headers={"Content-Type": image.manifest.media_type},
        )
        assert put.status_code == 403, ociapi.describe(put)
        assert puller.delete(ociapi.manifest_url(name, image.digest)).status_code == 403
    got = ecr_puller.batch_get_image(repositoryName=name, imageIds=[{"imageTag": "v1"}])
    assert got["images"][0]["imageManifest"] == image.manifest.data.decode()
    # Other keys of the account keep full rights.
    push_ecr(ecr_a, name, other, "v2")
    assert {"v1", "v2"} == {
        i["imageTag"]
        for i in ecr_a.list_images(repositoryName=name, filter={"tagStatus": "TAGGED"})["imageIds"]
    }


def test_batch_get_image_by_registry_id(ecr_a: Any, ecr_b: Any, pushed: tuple[str, Any]) -> None:
    name, image = pushed
    request = {"registryId": ACCOUNT_A, "repositoryName": name, "imageIds": [{"imageTag": "v1"}]}
    with ecr_error("AccessDeniedException") as info:
        ecr_b.batch_get_image(**request)
    assert f"arn:aws:ecr:{REGION}:{ACCOUNT_A}:repository/{name}" in str(info.value)
    ecr_a.set_repository_policy(
        repositoryName=name,
        policyText=policy(statement("Allow", f"arn:aws:iam::{ACCOUNT_B}:root", "ecr:Batch*")),
    )
    (got,) = ecr_b.batch_get_image(**request)["images"]
    assert (got["registryId"], got["imageId"]["imageDigest"]) == (ACCOUNT_A, image.digest)
    with ecr_error("AccessDeniedException"):  # ecr:Batch* does not cover DescribeImages
        ecr_b.describe_images(registryId=ACCOUNT_A, repositoryName=name)


def test_host_naming_an_account_addresses_its_registry(
    ecr_server: DockyardServer, ecr_a: Any, token_b: str, pushed: tuple[str, Any]
) -> None:
    name, image = pushed
    host = {"Host": f"{ACCOUNT_A}.dkr.localhost", "Accept": ociapi.MANIFEST_ACCEPT}
    with v2_client(ecr_server.url, token_b) as b:
        assert b.get(ociapi.manifest_url(name, "v1"), headers=host).status_code == 403
        ecr_a.set_repository_policy(
            repositoryName=name, policyText=policy(statement("Allow", ACCOUNT_B, PULL))
        )
        answer = b.get(ociapi.manifest_url(name, "v1"), headers=host)
        assert answer.status_code == 200 and answer.content == image.manifest.data
        assert b.get(ociapi.manifest_url(name, "v1")).status_code == 404  # B's own registry


def test_get_authorization_token_names_the_registry_on_account_hosts(
    ecr_server: DockyardServer,
) -> None:
    from tests.ecr.conftest import KEY_B

    client = ecr_client(ecr_server.url.replace("127.0.0.1", f"{ACCOUNT_B}.127.0.0.1"), KEY_B)
    client.meta.events.register("before-send.ecr", _to_loopback)
    data = client.get_authorization_token(registryIds=[ACCOUNT_A, ACCOUNT_B])
    endpoints = [d["proxyEndpoint"] for d in data["authorizationData"]]
    port = ecr_server.url.rsplit(":", 1)[1]
    assert endpoints == [
        f"http://{ACCOUNT_A}.127.0.0.1:{port}",
        f"http://{ACCOUNT_B}.127.0.0.1:{port}",
    ]


def _to_loopback(request: Any, **_: Any) -> None:
    """Send to 127.0.0.1 while the Host header keeps the account's name (no DNS needed)."""
    host = request.url.split("/")[2]
    request.url = request.url.replace(host, host.split(".", 1)[1], 1)
    request.headers["Host"] = host


# --------------------------------------------------------------------------- registry policy


def test_registry_policy_round_trip_and_grant(
    ecr_a: Any, ecr_b: Any, pushed: tuple[str, Any]
) -> None:
    name, image = pushed
    missing = f"Registry policy does not exist in the registry with id '{ACCOUNT_A}'"
    with ecr_error("RegistryPolicyNotFoundException", missing):
        ecr_a.get_registry_policy()
    with ecr_error(
        "InvalidParameterException",
        "Invalid parameter at 'PolicyText' failed to "
        "satisfy constraint: 'Invalid registry policy provided'",
    ):
        ecr_a.put_registry_policy(policyText=policy(statement("Allow", ACCOUNT_B, "ecr:*")))
    text = policy(
        statement(
            "Allow",
            ACCOUNT_B,
            ["ecr:DescribeImages", "ecr:BatchGetImage"],
            Resource=f"arn:aws:ecr:{REGION}:{ACCOUNT_A}:repository/ecr-e2e/*",
        )
    )
    try:
        put = ecr_a.put_registry_policy(policyText=text)
        assert (put["registryId"], put["policyText"]) == (ACCOUNT_A, text)
        got = ecr_a.get_registry_policy()
        assert (got["registryId"], got["policyText"]) == (ACCOUNT_A, text)
        (detail,) = ecr_b.describe_images(registryId=ACCOUNT_A, repositoryName=name)["imageDetails"]
        assert (detail["registryId"], detail["imageDigest"]) == (ACCOUNT_A, image.digest)
        with ecr_error("AccessDeniedException"):
            ecr_b.list_images(registryId=ACCOUNT_A, repositoryName=name)
    finally:
        deleted = ecr_a.delete_registry_policy()
    assert (deleted["registryId"], deleted["policyText"]) == (ACCOUNT_A, text)
    with ecr_error("RegistryPolicyNotFoundException", missing):
        ecr_a.delete_registry_policy()
    with ecr_error("AccessDeniedException"):
        ecr_b.describe_images(registryId=ACCOUNT_A, repositoryName=name)


def test_root_may_repair_a_policy_that_denies_everyone(ecr_a: Any, repo: str) -> None:
    lockout = policy(statement("Deny", "*", "ecr:*"))
    with ecr_error("InvalidParameterException") as refused:  # a lock-out needs `force`
        ecr_a.set_repository_policy(repositoryName=repo, policyText=lockout)
    assert "set force to true" in refused.value.response["Error"]["Message"]
    ecr_a.set_repository_policy(repositoryName=repo, policyText=lockout, force=True)
    with ecr_error("AccessDeniedException"):
        ecr_a.describe_images(repositoryName=repo)
    assert ecr_a.get_repository_policy(repositoryName=repo)["policyText"] == lockout
    ecr_a.delete_repository_policy(repositoryName=repo)
    assert ecr_a.describe_images(repositoryName=repo)["imageDetails"] == []


def test_mount_needs_download_rights_on_the_source(
    ecr_server: DockyardServer, ecr_a: Any, ecr_puller: Any, pushed: tuple[str, Any], new_repo: Any
) -> None:
    name, image = pushed
    target = new_repo(suffix="-target")
    ecr_a.set_repository_policy(
        repositoryName=name,
        policyText=policy(
            statement("Deny", KEY_A_PULLER.principal_arn, "ecr:GetDownloadUrlForLayer")
        ),
    )
    layer = image.layers[0].digest
    with v2_client(ecr_server.url, registry_token(ecr_puller)) as puller:
        mount = puller.post(
            ociapi.with_params(ociapi.upload_url(target), mount=layer, **{"from": name})
        )
        assert mount.status_code == 403, ociapi.describe(mount)
    with v2_client(ecr_server.url, registry_token(ecr_a)) as root:
        mounted = root.post(
            ociapi.with_params(ociapi.upload_url(target), mount=layer, **{"from": name})
        )
        assert mounted.status_code == 201, ociapi.describe(mounted)
