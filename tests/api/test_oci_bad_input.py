"""Bad input on purpose: the right 4xx and code, never a 500, and nothing half-written left.

Each bad push runs inside `registry.unchanged(NAME)`, which compares the catalog, the tags, the
blob store's blobs and its staged uploads before and after.
"""

from __future__ import annotations

import hashlib

import pytest

from .oci_client import (
    DATA,
    DOCKER_MANIFEST,
    NAME,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    OciClient,
    assert_error,
    error_codes,
    image,
    json_bytes,
    sha256,
    short,
    with_query,
)

MiB = 1024 * 1024

# -- bad input: names, tags, digests -----------------------------------------------------------------

BAD_NAMES = ["UPPER/case", "a", "-lead", "trail-", "a..b", "a___b", "x" * 257]


@pytest.mark.parametrize("name", BAD_NAMES, ids=short)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/tags/list"),
        ("POST", "/blobs/uploads/"),
        ("GET", f"/blobs/{sha256(DATA)}"),
        ("PUT", "/manifests/latest"),
        ("GET", "/manifests/latest"),
        ("DELETE", f"/manifests/{sha256(DATA)}"),
        ("GET", f"/referrers/{sha256(DATA)}"),
    ],
)
def test_malformed_names(registry: OciClient, client, name: str, method: str, path: str) -> None:
    body = image("named").body if method == "PUT" else None
    headers = {"Content-Type": OCI_MANIFEST} if method == "PUT" else {}
    response = client.request(method, f"/v2/{name}{path}", content=body, headers=headers)
    assert_error(response, 400, "NAME_INVALID")
    assert registry.catalog() == []


BAD_TAGS = [".hidden", "-dash", "a" * 129, "a+b"]


@pytest.mark.parametrize("tag", BAD_TAGS, ids=short)
def test_malformed_tags(registry: OciClient, client, seeded, tag: str) -> None:
    manifest = image("bad tag")
    for blob in manifest.blobs:
        registry.push_blob(NAME, blob.data)
    with registry.unchanged(NAME):
        assert_error(registry.put_manifest(NAME, tag, manifest), 400, "TAG_INVALID")
        # A fetch by a malformed reference finds nothing (the conformance suite's expectation).
        assert_error(registry.manifest(NAME, tag), 404, "MANIFEST_UNKNOWN")
        assert client.head(f"/v2/{NAME}/manifests/{tag}").status_code == 404
        assert_error(client.delete(f"/v2/{NAME}/manifests/{tag}"), 400, "TAG_INVALID")
    assert_error(registry.manifest(NAME, manifest.digest), 404, "MANIFEST_UNKNOWN")


BAD_DIGESTS = [
    "sha256:abc",
    "sha256:" + "A" * 64,
    "md5:" + "a" * 32,
    "sha256:" + "g" * 64,
    "sha256+foo:" + "a" * 64,
]


@pytest.mark.parametrize("digest", BAD_DIGESTS, ids=short)
def test_malformed_digests(registry: OciClient, client, seeded, digest: str) -> None:
    with registry.unchanged(NAME):
        assert_error(client.get(f"/v2/{NAME}/blobs/{digest}"), 400, "DIGEST_INVALID")
        assert_error(client.delete(f"/v2/{NAME}/blobs/{digest}"), 400, "DIGEST_INVALID")
        assert_error(registry.manifest(NAME, digest), 404, "MANIFEST_UNKNOWN")
        assert client.head(f"/v2/{NAME}/manifests/{digest}").status_code == 404
        assert_error(client.delete(f"/v2/{NAME}/manifests/{digest}"), 400, "DIGEST_INVALID")
        assert_error(registry.put_manifest(NAME, digest, image("x")), 400, "DIGEST_INVALID")
        monolithic = client.post(
            with_query(f"/v2/{NAME}/blobs/uploads/", digest=digest), content=DATA
        )
        assert_error(monolithic, 400, "DIGEST_INVALID")


@pytest.mark.parametrize("digest", [*BAD_DIGESTS, None], ids=short)
def test_completing_with_a_malformed_or_missing_digest(
    registry: OciClient, client, seeded, digest: str | None
) -> None:
    with registry.unchanged(NAME):
        location = registry.start_upload(NAME)
        registry.patch(location, DATA, start=0)
        url = location if digest is None else with_query(location, digest=digest)
        assert_error(client.put(url), 400, "DIGEST_INVALID")
        assert client.get(location).headers["Range"] == "0-9"  # the client may still finish
        assert client.delete(location).status_code == 204


# -- bad input: digest mismatches --------------------------------------------------------------------

WRONG = sha256(b"not the data")


def assert_nothing_published(registry: OciClient, client, *digests: str) -> None:
    for digest in digests:
        assert_error(client.get(f"/v2/{NAME}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_monolithic_digest_mismatch(registry: OciClient, client, seeded) -> None:
    with registry.unchanged(NAME):
        response = client.post(with_query(f"/v2/{NAME}/blobs/uploads/", digest=WRONG), content=DATA)
        assert_error(response, 400, "DIGEST_INVALID")
    assert_nothing_published(registry, client, WRONG, sha256(DATA))


@pytest.mark.parametrize("body_in_put", [True, False])
def test_digest_mismatch_on_completion_ends_the_upload(
    registry: OciClient, client, seeded, body_in_put: bool
) -> None:
    with registry.unchanged(NAME):
        location = registry.start_upload(NAME)
        if not body_in_put:
            registry.patch(location, DATA, start=0)
        response = registry.complete(location, WRONG, DATA if body_in_put else b"")
        assert_error(response, 400, "DIGEST_INVALID")
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_nothing_published(registry, client, WRONG, sha256(DATA))


def test_sha512_digest_mismatch(registry: OciClient, client, seeded) -> None:
    wrong = "sha512:" + hashlib.sha512(b"other").hexdigest()
    with registry.unchanged(NAME):
        location = registry.start_upload(NAME)
        registry.patch(location, DATA, start=0)
        assert_error(registry.complete(location, wrong), 400, "DIGEST_INVALID")


def test_manifest_digest_mismatch(registry: OciClient, seeded) -> None:
    manifest, claimed = image("mismatch"), image("claimed")
    for blob in manifest.blobs:
        registry.push_blob(NAME, blob.data)
    with registry.unchanged(NAME):
        response = registry.put_manifest(NAME, claimed.digest, manifest)
        assert_error(response, 400, "DIGEST_INVALID")
    assert_error(registry.manifest(NAME, claimed.digest), 404, "MANIFEST_UNKNOWN")
    assert_error(registry.manifest(NAME, manifest.digest), 404, "MANIFEST_UNKNOWN")


# -- bad input: manifests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", OCI_MANIFEST),
        (b"[]", OCI_MANIFEST),
        (b"", OCI_MANIFEST),
        (image("docker", flavor="docker").body, OCI_MANIFEST),  # mediaType and Content-Type
        (image("oci").body, DOCKER_MANIFEST),  # disagree
        (image("oci").body, OCI_INDEX),
        (
            json_bytes({"schemaVersion": 1, "name": NAME, "tag": "v1", "fsLayers": []}),
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ),
        (json_bytes({**image("v3").document, "schemaVersion": 3}), OCI_MANIFEST),
        (json_bytes({**image("nocfg").document, "config": None}), OCI_MANIFEST),
        (
            json_bytes(
                {
                    **image("neg").document,
                    "layers": [{"mediaType": OCI_CONFIG, "digest": sha256(b""), "size": -1}],
                }
            ),
            OCI_MANIFEST,
        ),
    ],
    ids=[
        "not-json",
        "array",
        "empty",
        "docker-as-oci",
        "oci-as-docker",
        "image-as-index",
        "schema-1",
        "schema-3",
        "null-config",
        "negative-size",
    ],
)
def test_invalid_manifests(registry: OciClient, seeded, body: bytes, content_type: str) -> None:
    with registry.unchanged(NAME):
        response = registry.put_manifest(NAME, "bad", body, content_type)
    assert_error(response, 400, "MANIFEST_INVALID")


def oversized() -> bytes:
    """A manifest padded past the 4 MiB limit (otherwise valid)."""
    body = image("huge").body
    return body + b" " * (4 * MiB + 1 - len(body))


def test_manifest_over_4_mib_is_413(registry: OciClient, seeded) -> None:
    with registry.unchanged(NAME):
        response = registry.put_manifest(NAME, "huge", oversized(), OCI_MANIFEST)
    assert_error(response, 413, "SIZE_INVALID")


def test_streamed_manifest_over_4_mib_is_413(registry: OciClient, client, seeded) -> None:
    body = oversized()
    chunks = (body[i : i + MiB] for i in range(0, len(body), MiB))  # no Content-Length
    with registry.unchanged(NAME):
        response = client.put(
            f"/v2/{NAME}/manifests/huge", content=chunks, headers={"Content-Type": OCI_MANIFEST}
        )
    assert_error(response, 413, "SIZE_INVALID")


# -- bad input: unknown things -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/manifests/latest", f"/manifests/{sha256(DATA)}", f"/blobs/{sha256(DATA)}", "/tags/list"],
)
def test_unknown_repository(client, seeded, path: str) -> None:
    assert_error(client.get(f"/v2/team/missing{path}"), 404, "NAME_UNKNOWN")


def test_unknown_manifest_and_blob(registry: OciClient, client, seeded) -> None:
    assert_error(registry.manifest(NAME, "missing"), 404, "MANIFEST_UNKNOWN")
    assert_error(registry.manifest(NAME, sha256(b"missing")), 404, "MANIFEST_UNKNOWN")
    assert_error(client.get(f"/v2/{NAME}/blobs/{sha256(b'missing')}"), 404, "BLOB_UNKNOWN")
    head = client.head(f"/v2/{NAME}/manifests/missing")
    assert (head.status_code, head.content) == (404, b"")


def test_error_bodies_carry_one_error_with_a_message(client, seeded) -> None:
    response = client.get(f"/v2/{NAME}/manifests/missing")
    (error,) = response.json()["errors"]
    assert error["code"] == "MANIFEST_UNKNOWN" and error["message"]
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


# -- known gaps --------------------------------------------------------------------------------------


@pytest.mark.parametrize("push", ["manifest", "blob"])
def test_a_refused_first_push_creates_no_repository(registry: OciClient, client, push: str) -> None:
    if push == "manifest":
        response = registry.put_manifest("team/new", "v1", image("orphan"))
        assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    else:
        url = with_query("/v2/team/new/blobs/uploads/", digest=WRONG)
        assert_error(client.post(url, content=DATA), 400, "DIGEST_INVALID")
    assert registry.catalog() == []
