"""Pull by tag converts between Docker schema 2 and OCI when `Accept` lacks the stored type (as
ECR does); pull by digest never converts. Plain HTTP with narrow `Accept` headers."""

from __future__ import annotations

import json

import pytest

from .oci_client import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    NAME,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    OciClient,
    artifact,
    assert_error,
    image,
    index,
    sha256,
)

OTHER_TYPE = {
    DOCKER_MANIFEST: OCI_MANIFEST,
    OCI_MANIFEST: DOCKER_MANIFEST,
    DOCKER_LIST: OCI_INDEX,
    OCI_INDEX: DOCKER_LIST,
}
CONFIG = {"docker": DOCKER_CONFIG, "oci": OCI_CONFIG}
LAYER = {"docker": DOCKER_LAYER, "oci": OCI_LAYER}


@pytest.mark.parametrize(("stored", "served"), [("docker", "oci"), ("oci", "docker")])
def test_image_by_tag_is_converted_for_a_narrow_accept(
    registry: OciClient, stored: str, served: str
) -> None:
    manifest = image("convert me", flavor=stored)
    registry.push(NAME, manifest, "v1")
    wanted = OTHER_TYPE[manifest.media_type]
    response = registry.manifest(NAME, "v1", accept=wanted)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == wanted
    assert response.headers["Docker-Content-Digest"] == sha256(response.content)
    assert response.headers["Content-Length"] == str(len(response.content))
    document, original = response.json(), json.loads(manifest.body)
    assert document["mediaType"] == wanted
    assert document["config"] == {**original["config"], "mediaType": CONFIG[served]}
    assert [layer["mediaType"] for layer in document["layers"]] == [LAYER[served]] * 2
    assert [layer["digest"] for layer in document["layers"]] == [
        layer["digest"] for layer in original["layers"]
    ]
    head = registry.http.head(f"/v2/{NAME}/manifests/v1", headers={"Accept": wanted})
    assert head.headers["Docker-Content-Digest"] == response.headers["Docker-Content-Digest"]


@pytest.mark.parametrize("flavor", ["docker", "oci"])
def test_digest_fetch_is_never_converted(registry: OciClient, flavor: str) -> None:
    manifest = image("by digest", flavor=flavor)
    registry.push(NAME, manifest, "v1")
    response = registry.manifest(NAME, manifest.digest, accept=OTHER_TYPE[manifest.media_type])
    assert (response.status_code, response.content) == (200, manifest.body)
    assert response.headers["Docker-Content-Digest"] == manifest.digest


def test_converted_bytes_are_the_same_on_every_fetch(registry: OciClient) -> None:
    registry.push(NAME, image("stable", flavor="docker"), "v1")
    first = registry.manifest(NAME, "v1", accept=OCI_MANIFEST)
    second = registry.manifest(NAME, "v1", accept=OCI_MANIFEST)
    assert first.content == second.content


@pytest.mark.parametrize(("stored", "served"), [("docker", "oci"), ("oci", "docker")])
def test_index_by_tag_is_converted_with_its_children_types(
    registry: OciClient, stored: str, served: str
) -> None:
    children = [image(f"child {i}", flavor=stored) for i in range(2)]
    for child in children:
        registry.push(NAME, child)
    listing = index(children, flavor=stored)
    registry.push(NAME, listing, "multi")
    wanted = OTHER_TYPE[listing.media_type]
    response = registry.manifest(NAME, "multi", accept=wanted)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == wanted
    assert response.headers["Docker-Content-Digest"] == sha256(response.content)
    child_type = OTHER_TYPE[children[0].media_type]
    assert [
        (c["mediaType"], c["digest"], c["platform"]["architecture"])
        for c in response.json()["manifests"]
    ] == [(child_type, children[0].digest, "amd64"), (child_type, children[1].digest, "arm64")]


def test_an_oci_artifact_is_not_converted_to_docker(registry: OciClient) -> None:
    manifest = artifact("sbom", "application/vnd.example.sbom")
    registry.push(NAME, manifest, "sbom")
    assert_error(registry.manifest(NAME, "sbom", accept=DOCKER_MANIFEST), 404, "MANIFEST_UNKNOWN")
    assert registry.manifest(NAME, "sbom", accept=OCI_MANIFEST).content == manifest.body
