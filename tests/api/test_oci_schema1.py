"""Docker schema 1 pushes over `/v2/`: accepted when their blobs are in the repository, pulled
back byte for byte (signed ones keep their JWS), digest of the signed payload; never converted."""

from __future__ import annotations

import pytest

from tests.support import schema1

from .oci_client import DOCKER_MANIFEST, NAME, OCI_MANIFEST, OciClient, assert_error


def push_layers(registry: OciClient, *contents: bytes) -> list[str]:
    return [registry.push_blob(NAME, data) for data in contents]


@pytest.mark.parametrize("signed", [False, True])
def test_schema1_push_and_pull_back_byte_for_byte(registry: OciClient, signed: bool) -> None:
    digests = push_layers(registry, b"layer one" * 50, b"layer two")
    unsigned = schema1.payload(NAME, "old", [digests[0], digests[1], digests[0]])
    body = schema1.signed(unsigned) if signed else unsigned
    media_type = schema1.SIGNED if signed else schema1.UNSIGNED
    pushed = registry.put_manifest(NAME, "old", body, media_type)
    assert pushed.status_code == 201, pushed.text
    expected = schema1.digest(unsigned)  # signed: the payload's digest, as distribution has it
    assert pushed.headers["Docker-Content-Digest"] == expected
    for reference in ("old", expected):
        pulled = registry.manifest(NAME, reference, accept=media_type)
        assert (pulled.status_code, pulled.content) == (200, body)
        assert pulled.headers["Content-Type"] == media_type
        assert pulled.headers["Docker-Content-Digest"] == expected


def test_schema1_with_a_missing_blob_is_refused(registry: OciClient) -> None:
    present = push_layers(registry, b"present")[0]
    missing = schema1.digest(b"never pushed")
    response = registry.put_manifest(
        NAME, "old", schema1.payload(NAME, "old", [present, missing]), schema1.UNSIGNED
    )
    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.parametrize("accept", [DOCKER_MANIFEST, OCI_MANIFEST])
def test_schema1_is_not_converted_for_a_client_that_lacks_it(
    registry: OciClient, accept: str
) -> None:
    digests = push_layers(registry, b"layer")
    registry.put_manifest(NAME, "old", schema1.payload(NAME, "old", digests), schema1.UNSIGNED)
    assert_error(registry.manifest(NAME, "old", accept=accept), 404, "MANIFEST_UNKNOWN")


def test_schema1_pushed_by_its_digest(registry: OciClient) -> None:
    digests = push_layers(registry, b"layer")
    unsigned = schema1.payload(NAME, "old", digests)
    body = schema1.signed(unsigned)
    response = registry.put_manifest(NAME, schema1.digest(unsigned), body, schema1.SIGNED)
    assert response.status_code == 201, response.text
    wrong = registry.put_manifest(NAME, schema1.digest(body), body, schema1.SIGNED)
    assert_error(wrong, 400, "DIGEST_INVALID")
