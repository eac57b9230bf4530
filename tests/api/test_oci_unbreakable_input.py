"""Input that once reached a 500 on `/v2/` (issue 10), and the sizes a manifest may declare.

Each case is the smallest request that failed: it now gets a 4xx in the OCI error format, and a
refused push leaves the repository as it was (`registry.unchanged`). The fixture's
`_no_server_errors` also fails a test on any 5xx along the way.
"""

from __future__ import annotations

import json

import pytest

from .oci_client import NAME, OCI_MANIFEST, OciClient, assert_error, image, sha256

LONG = "9" * 5000  # past int()'s 4,300-digit limit
SIGNED_64 = 2**63


def test_a_manifest_nested_1000_deep_is_invalid(registry: OciClient, seeded) -> None:
    body = b'{"schemaVersion":2,"x":' + b"[" * 1000 + b"]" * 1000 + b"}"
    with registry.unchanged(NAME):
        assert_error(
            registry.put_manifest(NAME, "deep", body, OCI_MANIFEST), 400, "MANIFEST_INVALID"
        )


@pytest.mark.parametrize("where", ["config", "layer"])
@pytest.mark.parametrize("size", [SIGNED_64, 2**64 + 5, 10**40])
def test_a_descriptor_size_past_a_signed_64_bit_integer_is_invalid(
    registry: OciClient, seeded, where: str, size: int
) -> None:
    manifest = image("huge")
    for blob in manifest.blobs:
        registry.push_blob(NAME, blob.data)
    document = manifest.document
    target = document["config"] if where == "config" else document["layers"][0]
    target["size"] = size
    with registry.unchanged(NAME):
        response = registry.put_manifest(NAME, "huge", json.dumps(document).encode(), OCI_MANIFEST)
        assert_error(response, 400, "MANIFEST_INVALID")


@pytest.mark.parametrize(("where", "delta"), [("config", 10**12), ("layer", -1), ("layer", 1)])
def test_a_descriptor_size_other_than_the_stored_blob_is_invalid(
    registry: OciClient, client, seeded, where: str, delta: int
) -> None:
    """The image's size is summed from descriptors, so each must be what is stored."""
    manifest = image("lying")
    for blob in manifest.blobs:
        registry.push_blob(NAME, blob.data)
    document = manifest.document
    target = document["config"] if where == "config" else document["layers"][1]
    target["size"] += delta
    body = json.dumps(document).encode()
    with registry.unchanged(NAME):
        response = registry.put_manifest(NAME, "lying", body, OCI_MANIFEST)
        assert_error(response, 400, "MANIFEST_INVALID")
        assert target["digest"] in response.json()["errors"][0]["message"]
    assert_error(registry.manifest(NAME, sha256(body)), 404, "MANIFEST_UNKNOWN")
    registry.push(NAME, manifest, "true")  # the same blobs with true sizes are fine


def test_a_size_check_covers_blobs_declared_twice(registry: OciClient, seeded) -> None:
    manifest = image("twice", layers=1)
    for blob in manifest.blobs:
        registry.push_blob(NAME, blob.data)
    document = manifest.document
    layer = dict(document["layers"][0])
    document["layers"].append({**layer, "size": layer["size"] + 1})
    with registry.unchanged(NAME):
        response = registry.put_manifest(NAME, "twice", json.dumps(document).encode(), OCI_MANIFEST)
        assert_error(response, 400, "MANIFEST_INVALID")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_manifest_that_is_not_utf8_is_invalid(registry: OciClient, seeded, encoding: str) -> None:
    manifest = image("utf16")
    for blob in manifest.blobs:
        registry.push_blob(NAME, blob.data)
    body = manifest.body.decode().encode(encoding)
    with registry.unchanged(NAME):
        assert_error(
            registry.put_manifest(NAME, "u16", body, OCI_MANIFEST), 400, "MANIFEST_INVALID"
        )
        assert_error(
            registry.put_manifest(NAME, sha256(body), body, OCI_MANIFEST), 400, "MANIFEST_INVALID"
        )


@pytest.mark.parametrize(
    "n",
    ["²", "٣", "1²", LONG, "-1", "+1", "1e3", ""],
    ids=lambda n: n if len(n) < 10 else f"{len(n)}-digits",
)
@pytest.mark.parametrize("path", ["/v2/_catalog", f"/v2/{NAME}/tags/list"])
def test_page_sizes_that_are_not_small_ascii_numbers(client, seeded, path: str, n: str) -> None:
    response = client.get(path, params={"n": n})
    assert_error(response, 400, "UNSUPPORTED")
    assert len(response.text) < 500


@pytest.mark.parametrize("path", ["/v2/_catalog", f"/v2/{NAME}/tags/list"])
def test_a_page_of_zero_is_empty_and_has_no_next_link(client, seeded, path: str) -> None:
    response = client.get(path, params={"n": "0"})
    assert response.status_code == 200, response.text
    assert [v for v in response.json().values() if isinstance(v, list)] == [[]]
    assert "Link" not in response.headers
    padded = client.get(path, params={"n": "0001"})  # leading zeros are still a number
    assert padded.status_code == 200
    assert [len(v) for v in padded.json().values() if isinstance(v, list)] == [1]


def test_range_with_a_5000_digit_number(client, seeded) -> None:
    config = seeded.blobs[0]
    url = f"/v2/{NAME}/blobs/{config.digest}"
    assert_error(client.get(url, headers={"Range": f"bytes={LONG}-"}), 416, "SIZE_INVALID")
    whole = client.get(url, headers={"Range": f"bytes=0-{LONG}"})
    assert whole.status_code == 206 and whole.content == config.data
    suffix = client.get(url, headers={"Range": f"bytes=-{LONG}"})
    assert suffix.status_code == 206 and suffix.content == config.data


@pytest.mark.parametrize(
    "content_range",
    [f"0-{LONG}", f"{LONG}-{LONG}", "0-²"],
    ids=["long-end", "long-both", "superscript"],
)
def test_content_range_with_huge_or_non_ascii_numbers(
    registry: OciClient, client, seeded, content_range: str
) -> None:
    location = registry.start_upload(NAME)
    header = content_range.encode("latin-1")  # as HTTP carries it; ASGI decodes latin-1
    response = client.patch(location, content=b"abc", headers={"Content-Range": header})
    assert response.status_code in (400, 416), response.text
    assert response.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    assert client.get(location).headers["Range"] == "0-0"  # nothing was taken
    assert client.delete(location).status_code == 204


@pytest.mark.parametrize("reference", [".INVALID_MANIFEST_NAME", "a" * 129, "sha256:abc", "md5:x"])
def test_fetching_a_malformed_reference_is_manifest_unknown(
    registry: OciClient, client, seeded, reference: str
) -> None:
    """The distribution-spec conformance suite pulls `.INVALID_MANIFEST_NAME` and wants 404."""
    url = f"/v2/{NAME}/manifests/{reference}"
    assert_error(client.get(url), 404, "MANIFEST_UNKNOWN")
    head = client.head(url)
    assert (head.status_code, head.content) == (404, b"")
    assert_error(
        registry.put_manifest(NAME, reference, seeded),
        400,
        "DIGEST_INVALID" if ":" in reference else "TAG_INVALID",
    )


def test_a_malformed_reference_in_a_missing_repository_is_name_unknown(client) -> None:
    assert_error(client.get("/v2/no/such/manifests/.bad"), 404, "NAME_UNKNOWN")
