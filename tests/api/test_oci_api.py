"""The OCI distribution spec (v1.1) end to end: base, manifests, negotiation and deletes.

Every answer is checked for its exact status, headers and error code. Blobs and uploads are in
test_oci_blobs.py, tags, catalog and referrers in test_oci_discovery.py, bad input in
test_oci_bad_input.py. The `client` fixture (conftest.py) fails any test in which a request got
a 5xx.
"""

from __future__ import annotations

import pytest

from .oci_client import (
    DATA,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    NAME,
    OCI_INDEX,
    OCI_MANIFEST,
    OTHER,
    Manifest,
    OciClient,
    assert_error,
    image,
    index,
    json_bytes,
    sha256,
)


def push_kind(registry: OciClient, name: str, kind: str) -> Manifest:
    """Push what a manifest of `kind` needs (blobs, or child manifests) and return it, unpushed."""
    if kind in ("oci", "docker"):
        manifest = image(f"{kind} image", flavor=kind)
        for blob in manifest.blobs:
            registry.push_blob(name, blob.data)
        return manifest
    flavor = "docker" if kind == "docker-list" else "oci"
    children = [image(f"{kind} child {i}", flavor=flavor) for i in range(2)]
    for child in children:
        registry.push(name, child)
    return index(children, flavor=flavor)


KINDS = ["oci", "docker", "oci-index", "docker-list"]


# -- base --------------------------------------------------------------------------------------------


def test_base_endpoint(client) -> None:
    response = client.get("/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert response.json() == {}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", f"/v2/{NAME}/nothing", 404),
        ("GET", f"/v2/{NAME}/blobs/", 404),
        ("GET", "/v2/_nothing/", 404),
        ("PUT", "/v2/", 405),
        ("POST", f"/v2/{NAME}/manifests/latest", 405),
        ("PATCH", f"/v2/{NAME}/blobs/{sha256(DATA)}", 405),
    ],
)
def test_unknown_routes_answer_with_an_oci_error(
    client, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert_error(response, status, "UNSUPPORTED")
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


# -- push and pull: manifests ------------------------------------------------------------------------


def assert_served(registry: OciClient, client, reference: str, manifest: Manifest) -> None:
    """GET and HEAD answer with the pushed bytes, media type, length and digest."""
    get = registry.manifest(NAME, reference)
    head = client.head(f"/v2/{NAME}/manifests/{reference}")
    for response in (get, head):
        assert response.status_code == 200
        assert response.headers["Content-Type"] == manifest.media_type
        assert response.headers["Content-Length"] == str(len(manifest.body))
        assert response.headers["Docker-Content-Digest"] == manifest.digest
    assert get.content == manifest.body
    assert head.content == b""


@pytest.mark.parametrize("kind", KINDS)
def test_manifest_put_by_tag(registry: OciClient, client, kind: str) -> None:
    manifest = push_kind(registry, NAME, kind)
    response = registry.put_manifest(NAME, "v1", manifest)
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{NAME}/manifests/{manifest.digest}"
    assert response.headers["Docker-Content-Digest"] == manifest.digest
    assert "OCI-Subject" not in response.headers
    assert_served(registry, client, "v1", manifest)
    assert_served(registry, client, manifest.digest, manifest)
    assert registry.tags(NAME) == ["v1"]


@pytest.mark.parametrize("kind", KINDS)
def test_manifest_put_by_digest(registry: OciClient, client, kind: str) -> None:
    manifest = push_kind(registry, NAME, kind)
    response = registry.put_manifest(NAME, manifest.digest, manifest)
    assert response.status_code == 201
    assert response.headers["Docker-Content-Digest"] == manifest.digest
    assert_served(registry, client, manifest.digest, manifest)
    assert registry.tags(NAME) == []


def test_manifest_bytes_are_kept_verbatim(registry: OciClient, client) -> None:
    manifest = image("pretty", indent=3)
    assert b"\n   " in manifest.body
    registry.push(NAME, manifest, "pretty")
    assert_served(registry, client, "pretty", manifest)


def test_pushing_the_same_manifest_twice_is_idempotent(registry: OciClient) -> None:
    manifest = image("twice")
    registry.push(NAME, manifest, "a")
    again = registry.put_manifest(NAME, "a", manifest)
    assert (again.status_code, again.headers["Docker-Content-Digest"]) == (201, manifest.digest)
    assert registry.tags(NAME) == ["a"]


def test_a_tag_moves_to_the_newer_manifest(registry: OciClient) -> None:
    old, new = image("old"), image("new")
    registry.push(NAME, old, "latest")
    registry.push(NAME, new, "latest")
    assert registry.manifest(NAME, "latest").content == new.body
    assert registry.manifest(NAME, old.digest).content == old.body


@pytest.mark.parametrize("missing", ["config", "layer"])
def test_manifest_with_missing_blobs_is_refused(registry: OciClient, seeded, missing: str) -> None:
    manifest = image("incomplete")
    config, layer, _ = manifest.blobs
    for blob in manifest.blobs:
        if blob is not (config if missing == "config" else layer):
            registry.push_blob(NAME, blob.data)
    with registry.unchanged(NAME):
        response = registry.put_manifest(NAME, "incomplete", manifest)
    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert_error(registry.manifest(NAME, manifest.digest), 404, "MANIFEST_UNKNOWN")


def test_blobs_of_another_repository_do_not_count(registry: OciClient, seeded) -> None:
    manifest = image("elsewhere")
    for blob in manifest.blobs:
        registry.push_blob(OTHER, blob.data)
    with registry.unchanged(NAME):
        assert_error(registry.put_manifest(NAME, "t", manifest), 400, "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.parametrize("flavor", ["oci", "docker"])
def test_index_with_missing_children_is_refused(registry: OciClient, seeded, flavor: str) -> None:
    present, absent = image("present", flavor=flavor), image("absent", flavor=flavor)
    registry.push(NAME, present)
    registry.push(OTHER, absent)  # known to the registry, but not in NAME
    with registry.unchanged(NAME):
        response = registry.put_manifest(NAME, "multi", index([present, absent], flavor=flavor))
    assert_error(response, 400, "MANIFEST_UNKNOWN")


def test_foreign_layers_need_not_be_pushed(registry: OciClient, client) -> None:
    config = image("windows", flavor="docker").blobs[0]
    foreign = {
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar",
        "digest": sha256(b"windows base"),
        "size": 12,
        "urls": ["https://example.com/b"],
    }
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config.descriptor(),
        "layers": [foreign],
    }
    registry.push_blob(NAME, config.data)
    response = registry.put_manifest(NAME, "windows", json_bytes(document), DOCKER_MANIFEST)
    assert response.status_code == 201


# -- pull: content negotiation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "served"),
    [
        ("application/vnd.docker.distribution.manifest.v1+json", False),  # no schema 1 made
        (f"{DOCKER_LIST}, {OCI_INDEX}", False),  # an image is never served as a list
        (OCI_MANIFEST, True),
        (f"{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.5", True),
        (f"{DOCKER_MANIFEST}, */*", True),
        ("application/json", True),  # no manifest type listed: nothing to negotiate
    ],
)
def test_tag_fetch_honours_accept(registry: OciClient, accept: str, served: bool) -> None:
    manifest = image("negotiated")
    registry.push(NAME, manifest, "v1")
    response = registry.manifest(NAME, "v1", accept=accept)
    if served:
        assert (response.status_code, response.content) == (200, manifest.body)
        assert response.headers["Content-Type"] == OCI_MANIFEST
    else:
        assert_error(response, 404, "MANIFEST_UNKNOWN")


def test_digest_fetch_serves_the_stored_manifest_whatever_the_accept(registry: OciClient) -> None:
    manifest = image("by digest")
    registry.push(NAME, manifest, "v1")
    response = registry.manifest(NAME, manifest.digest, accept=DOCKER_MANIFEST)
    assert (response.status_code, response.content) == (200, manifest.body)
    assert response.headers["Content-Type"] == OCI_MANIFEST


# -- content management: deletes ---------------------------------------------------------------------


def test_delete_by_digest_removes_the_manifest_and_its_tags(registry: OciClient, client) -> None:
    manifest, kept = image("doomed"), image("kept")
    registry.push(NAME, manifest, "a")
    registry.put_manifest(NAME, "b", manifest)
    registry.push(NAME, kept, "c")
    assert client.delete(f"/v2/{NAME}/manifests/{manifest.digest}").status_code == 202
    assert_error(registry.manifest(NAME, manifest.digest), 404, "MANIFEST_UNKNOWN")
    assert_error(registry.manifest(NAME, "a"), 404, "MANIFEST_UNKNOWN")
    assert registry.tags(NAME) == ["c"]
    assert_error(client.delete(f"/v2/{NAME}/manifests/{manifest.digest}"), 404, "MANIFEST_UNKNOWN")


def test_delete_by_tag_removes_only_the_tag(registry: OciClient, client) -> None:
    manifest = image("tagged twice")
    registry.push(NAME, manifest, "a")
    registry.put_manifest(NAME, "b", manifest)
    assert client.delete(f"/v2/{NAME}/manifests/a").status_code == 202
    assert registry.tags(NAME) == ["b"]
    assert_error(registry.manifest(NAME, "a"), 404, "MANIFEST_UNKNOWN")
    assert registry.manifest(NAME, manifest.digest).content == manifest.body
    assert_error(client.delete(f"/v2/{NAME}/manifests/a"), 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize("flavor", ["oci", "docker"])
def test_a_manifest_in_an_index_cannot_be_deleted(registry: OciClient, client, flavor: str) -> None:
    child = image("child", flavor=flavor)
    registry.push(NAME, child)
    parent = index([child], flavor=flavor)
    registry.push(NAME, parent, "multi")
    response = client.delete(f"/v2/{NAME}/manifests/{child.digest}")
    assert_error(response, 409, "DENIED")
    assert registry.manifest(NAME, child.digest).status_code == 200
    assert client.delete(f"/v2/{NAME}/manifests/{parent.digest}").status_code == 202
    assert client.delete(f"/v2/{NAME}/manifests/{child.digest}").status_code == 202
