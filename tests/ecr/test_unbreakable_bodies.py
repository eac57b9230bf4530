"""ECR bodies that once reached a 500 (issue 10), and PutImage's descriptor sizes, against a
real server (so also on PostgreSQL with `--e2e-database=postgres`, where a size past a signed
64-bit integer overflowed the column).

Every answer is checked against the operation's modeled errors (`send_raw` with the operation,
or the boto3 clients' conformance hook).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.ecr.conftest import KEY_A
from tests.support import ociapi
from tests.support.ecr import ecr_error, send_raw, signed_request, small_image


def raw(server_url: str, operation: str, body: bytes) -> dict[str, Any]:
    response = send_raw(signed_request(server_url, KEY_A, operation, body), operation)
    return response.json()


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_a_body_nested_10000_deep(ecr_server, opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    body = b'{"repositoryNames":' + opener * 10_000 + b"1" + closer * 10_000 + b"}"
    answer = raw(ecr_server.url, "DescribeRepositories", body)
    assert answer["__type"] == "InvalidParameterException", answer


def test_a_policy_nested_5000_deep(ecr_a: Any, repo: str) -> None:
    with ecr_error("InvalidParameterException"):
        ecr_a.set_repository_policy(repositoryName=repo, policyText="[" * 5000 + "]" * 5000)
    with ecr_error("RepositoryPolicyNotFoundException"):
        ecr_a.get_repository_policy(repositoryName=repo)


@pytest.mark.parametrize("member", ["imageTag", "imageManifest"])
def test_a_lone_surrogate_escape(ecr_server, repo: str, member: str) -> None:
    image = small_image("surrogate")
    body = {"repositoryName": repo, "imageManifest": image.manifest.data.decode(), "imageTag": "ok"}
    text = json.dumps(body)
    if member == "imageTag":
        text = text.replace('"ok"', '"a\\ud800"')
    else:  # the manifest string itself starts with one (it could not be encoded to bytes)
        text = text.replace('"imageManifest": "', '"imageManifest": "\\udc00')
    answer = raw(ecr_server.url, "PutImage", text.encode())
    assert answer["__type"] == "InvalidParameterException", answer
    assert "surrogate" in answer["message"]


def _lying_manifest(v2_a: httpx.Client, repo: str, where: str, size: int) -> str:
    """A pushed image's manifest whose config or first layer claims `size` bytes."""
    image = small_image(f"lying-{where}-{size}")
    for blob in image.blobs:
        ociapi.push_blob(v2_a, repo, blob.data)
    document = json.loads(image.manifest.data)
    target = document["config"] if where == "config" else document["layers"][0]
    target["size"] = size
    return json.dumps(document)


@pytest.mark.parametrize("size", [2**63, 2**64, 10**12, 0], ids=["2^63", "2^64", "1TB", "zero"])
@pytest.mark.parametrize("where", ["config", "layer"])
def test_put_image_refuses_a_descriptor_size_that_is_not_the_blobs(
    ecr_a: Any, v2_a: httpx.Client, repo: str, where: str, size: int
) -> None:
    manifest = _lying_manifest(v2_a, repo, where, size)
    with ecr_error("InvalidParameterException"):
        ecr_a.put_image(repositoryName=repo, imageManifest=manifest, imageTag="lie")
    assert ecr_a.describe_images(repositoryName=repo)["imageDetails"] == []


def test_v2_refuses_the_same_lie(v2_a: httpx.Client, repo: str) -> None:
    manifest = _lying_manifest(v2_a, repo, "config", 10**12)
    response = v2_a.put(
        f"/v2/{repo}/manifests/lie",
        content=manifest.encode(),
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "MANIFEST_INVALID"


def test_v2_refuses_a_utf16_manifest_that_put_image_could_not_return(
    ecr_a: Any, v2_a: httpx.Client, repo: str
) -> None:
    image = small_image("utf16")
    for blob in image.blobs:
        ociapi.push_blob(v2_a, repo, blob.data)
    body = image.manifest.data.decode().encode("utf-16")
    response = v2_a.put(
        f"/v2/{repo}/manifests/u16",
        content=body,
        headers={"Content-Type": image.manifest.media_type},
    )
    assert response.status_code == 400, response.text
    found = ecr_a.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "u16"}])
    assert found["images"] == [] and found["failures"][0]["failureCode"] == "ImageNotFound"


def test_true_sizes_are_what_describe_images_reports(
    ecr_a: Any, v2_a: httpx.Client, repo: str
) -> None:
    image = small_image("true-sizes", layers=2)
    for blob in image.blobs:
        ociapi.push_blob(v2_a, repo, blob.data)
    ecr_a.put_image(
        repositoryName=repo, imageManifest=image.manifest.data.decode(), imageTag="true"
    )
    [detail] = ecr_a.describe_images(repositoryName=repo)["imageDetails"]
    assert detail["imageSizeInBytes"] == sum(len(blob.data) for blob in image.blobs)
