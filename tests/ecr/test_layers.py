"""Layer operations: the multipart upload state machine, availability checks, download URLs,
and the equivalence of a `/v2/` push and an ECR-API push (spec section 7.3)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.ecr.conftest import ACCOUNT_A
from tests.support import ociapi
from tests.support.ecr import ecr_error, push_ecr, push_v2, small_image, upload_layer_ecr
from tests.support.images import Platform, build_index, pseudo_random_bytes

pytestmark = pytest.mark.e2e

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MIB = 1024 * 1024


def initiate(client: Any, repo: str) -> str:
    started = client.initiate_layer_upload(repositoryName=repo)
    assert UUID.fullmatch(started["uploadId"]), started
    assert isinstance(started["partSize"], int) and started["partSize"] > 0, started
    return started["uploadId"]


def part(client: Any, repo: str, upload_id: str, data: bytes, first: int) -> dict[str, Any]:
    return client.upload_layer_part(
        repositoryName=repo, uploadId=upload_id, partFirstByte=first,
        partLastByte=first + len(data) - 1, layerPartBlob=data,
    )  # fmt: skip


def test_two_part_upload(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    # ECR wants every part but the last to be at least 5 MiB; real clients send such parts.
    data = pseudo_random_bytes(5 * MIB + 4321, "two-parts")
    first, second = data[: 5 * MIB], data[5 * MIB :]
    digest = ociapi.sha256_digest(data)
    upload_id = initiate(ecr_a, repo)

    answer = part(ecr_a, repo, upload_id, first, 0)
    answer.pop("ResponseMetadata")
    assert answer == {
        "registryId": ACCOUNT_A, "repositoryName": repo, "uploadId": upload_id,
        "lastByteReceived": 5 * MIB - 1,
    }  # fmt: skip
    assert part(ecr_a, repo, upload_id, second, 5 * MIB)["lastByteReceived"] == len(data) - 1

    done = ecr_a.complete_layer_upload(
        repositoryName=repo, uploadId=upload_id, layerDigests=[digest]
    )
    done.pop("ResponseMetadata")
    assert done == {
        "registryId": ACCOUNT_A, "repositoryName": repo, "uploadId": upload_id, "layerDigest": digest,
    }  # fmt: skip
    check = ecr_a.batch_check_layer_availability(repositoryName=repo, layerDigests=[digest])
    assert check["failures"] == []
    (layer,) = check["layers"]
    assert (layer["layerDigest"], layer["layerAvailability"], layer["layerSize"]) == (
        digest,
        "AVAILABLE",
        len(data),
    )
    # The same bytes through /v2/.
    assert ociapi.fetch_blob(v2_a, repo, digest) == data


def test_non_contiguous_part_is_refused(ecr_a: Any, repo: str) -> None:
    upload_id = initiate(ecr_a, repo)
    part(ecr_a, repo, upload_id, b"0123456789", 0)
    with ecr_error("InvalidLayerPartException", lastValidByteReceived=9) as refused:
        part(ecr_a, repo, upload_id, b"abcdefghij", 20)
    # The upload carries on from where it really ends.
    assert part(ecr_a, repo, upload_id, b"abcdefghij", 10)["lastByteReceived"] == 19
    digest = ociapi.sha256_digest(b"0123456789abcdefghij")
    # Dockyard does not enforce ECR's 5 MiB minimum part size (a documented decision): small
    # parts are fine and the layer completes with the bytes of both parts.
    done = ecr_a.complete_layer_upload(
        repositoryName=repo, uploadId=upload_id, layerDigests=[digest]
    )
    assert done["layerDigest"] == digest
    # The refusal carries every member of InvalidLayerPartException.
    response = refused.value.response
    members = {k: response.get(k) for k in ("registryId", "repositoryName", "uploadId")}
    assert members == {"registryId": ACCOUNT_A, "repositoryName": repo, "uploadId": upload_id}


def test_complete_with_wrong_digest(ecr_a: Any, repo: str) -> None:
    data = b"some layer bytes"
    upload_id = initiate(ecr_a, repo)
    part(ecr_a, repo, upload_id, data, 0)
    wrong = ociapi.sha256_digest(b"other bytes")
    with ecr_error("InvalidLayerException"):
        ecr_a.complete_layer_upload(repositoryName=repo, uploadId=upload_id, layerDigests=[wrong])
    check = ecr_a.batch_check_layer_availability(
        repositoryName=repo, layerDigests=[wrong, ociapi.sha256_digest(data)]
    )
    assert {x["layerAvailability"] for x in check["layers"]} == {"UNAVAILABLE"}


def test_reupload_of_existing_layer(ecr_a: Any, repo: str) -> None:
    data = b"a layer uploaded twice"
    digest = upload_layer_ecr(ecr_a, repo, data)
    upload_id = initiate(ecr_a, repo)
    part(ecr_a, repo, upload_id, data, 0)
    with ecr_error("LayerAlreadyExistsException"):
        ecr_a.complete_layer_upload(repositoryName=repo, uploadId=upload_id, layerDigests=[digest])


def test_upload_errors(ecr_a: Any, repo: str) -> None:
    upload_id = initiate(ecr_a, repo)
    with ecr_error("EmptyUploadException"):
        ecr_a.complete_layer_upload(
            repositoryName=repo, uploadId=upload_id, layerDigests=[ociapi.sha256_digest(b"")]
        )
    unknown = str(uuid.uuid4())
    with ecr_error("UploadNotFoundException"):
        part(ecr_a, repo, unknown, b"x", 0)
    with ecr_error("UploadNotFoundException"):
        ecr_a.complete_layer_upload(
            repositoryName=repo, uploadId=unknown, layerDigests=[ociapi.sha256_digest(b"x")]
        )
    with ecr_error("RepositoryNotFoundException"):
        ecr_a.initiate_layer_upload(repositoryName="ecr-e2e/nope")


def test_batch_check_layer_availability(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    via_ecr = upload_layer_ecr(ecr_a, repo, b"uploaded with the ECR API")
    via_v2 = ociapi.sha256_digest(b"uploaded with /v2/")
    ociapi.push_blob(v2_a, repo, b"uploaded with /v2/")
    unknown = "sha256:" + "1" * 64
    check = ecr_a.batch_check_layer_availability(
        repositoryName=repo, layerDigests=[via_ecr, via_v2, unknown, "not-a-digest"]
    )
    layers = {x["layerDigest"]: x for x in check["layers"]}
    assert set(layers) == {via_ecr, via_v2, unknown}
    assert layers[via_ecr]["layerAvailability"] == "AVAILABLE"
    assert layers[via_ecr]["layerSize"] == len(b"uploaded with the ECR API")
    assert layers[via_v2]["layerAvailability"] == "AVAILABLE"
    assert layers[unknown]["layerAvailability"] == "UNAVAILABLE"
    assert [(f["layerDigest"], f["failureCode"]) for f in check["failures"]] == [
        ("not-a-digest", "InvalidLayerDigest")
    ]


def test_download_url_needs_an_image_referencing_the_layer(ecr_a: Any, repo: str) -> None:
    """ "Only image layers that are referenced by an image are downloadable" (model doc)."""
    image = small_image("download-unreferenced", layers=2)
    for blob in image.blobs:
        upload_layer_ecr(ecr_a, repo, blob.data)
    with ecr_error("LayerInaccessibleException"):
        ecr_a.get_download_url_for_layer(repositoryName=repo, layerDigest=image.layers[1].digest)


def test_get_download_url_for_layer(ecr_a: Any, token_a: str, repo: str) -> None:
    image = small_image("download", layers=2)
    layer = image.layers[1]
    push_ecr(ecr_a, repo, image, "v1")

    answer = ecr_a.get_download_url_for_layer(repositoryName=repo, layerDigest=layer.digest)
    assert answer["layerDigest"] == layer.digest
    url = answer["downloadUrl"]
    response = httpx.get(
        url, headers={"Authorization": f"Basic {token_a}"}, follow_redirects=True, timeout=30
    )
    assert response.status_code == 200, ociapi.describe(response)
    assert ociapi.sha256_digest(response.content) == layer.digest
    # A pre-signed URL (as ECR's S3 URLs are) needs no credentials, but its signature must hold.
    presigned = httpx.get(url, follow_redirects=True, timeout=30)
    if presigned.status_code == 200:
        assert presigned.content == response.content
        other = url.replace(layer.digest, image.layers[0].digest)
        forged = httpx.get(other, follow_redirects=True, timeout=30)
        assert forged.status_code in {401, 403}, ociapi.describe(forged)

    with ecr_error("LayersNotFoundException"):
        ecr_a.get_download_url_for_layer(repositoryName=repo, layerDigest="sha256:" + "2" * 64)


def comparable(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k not in {"repositoryName", "imagePushedAt"}}


@pytest.mark.parametrize("kind", ["image", "docker-image", "index"])
def test_v2_push_and_ecr_push_describe_the_same(
    ecr_a: Any, v2_a: httpx.Client, new_repo: Any, kind: str
) -> None:
    if kind == "index":
        target: Any = build_index(
            [
                small_image("same-a", layers=2, platform=Platform("amd64")),
                small_image("same-b", layers=3, platform=Platform("arm64")),
            ]
        )
    else:
        target = small_image(
            f"same-{kind}", layers=3, flavor="docker" if kind == "docker-image" else "oci"
        )
    via_v2, via_ecr = new_repo(suffix="-v2"), new_repo(suffix="-ecr")
    push_v2(v2_a, via_v2, target, "v1")
    push_ecr(ecr_a, via_ecr, target, "v1")

    described = []
    for name in (via_v2, via_ecr):
        found = ecr_a.describe_images(repositoryName=name)["imageDetails"]
        described.append(sorted((comparable(d) for d in found), key=lambda d: d["imageDigest"]))
    assert described[0] == described[1]
    assert target.digest in {d["imageDigest"] for d in described[0]}
    # And the manifests served back are the same bytes either way.
    for name in (via_v2, via_ecr):
        assert ociapi.fetch_manifest(v2_a, name, "v1").content == target.manifest.data
