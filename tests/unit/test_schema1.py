"""Docker schema 1 parsing (domain/schema1.py via parse_manifest): layers, media types, the
digest source of signed manifests, and what is refused."""

from __future__ import annotations

import json

import pytest
from tests.support import schema1

from dockyard.domain.errors import ManifestInvalid
from dockyard.domain.manifests import check_blob_sizes, parse_manifest

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def test_unsigned_manifest_lists_distinct_layers_and_digests_its_bytes() -> None:
    body = schema1.payload("team/app", "v1", [A, B, A])
    manifest = parse_manifest(body)
    assert manifest.media_type == schema1.UNSIGNED
    assert [str(d) for d in manifest.blob_digests] == [A, B]
    assert manifest.config is None and manifest.sizes_from_store
    assert manifest.digest_source(body) == body
    check_blob_sizes(manifest, {A: 5, B: 7})  # no sizes named: nothing to disagree with


@pytest.mark.parametrize("signatures", [1, 2])
def test_signed_manifest_digest_is_of_the_payload(signatures: int) -> None:
    unsigned = schema1.payload("team/app", "v1", [A])
    body = schema1.signed(unsigned, signatures)
    manifest = parse_manifest(body, schema1.SIGNED)
    assert manifest.media_type == schema1.SIGNED
    assert manifest.digest_source(body) == unsigned


def tamper(body: bytes, **header: object) -> bytes:
    document = json.loads(body)
    document["signatures"][0]["protected"] = schema1.b64url(json.dumps(header).encode())
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"schemaVersion": 1, "name": "a", "tag": "b", "fsLayers": [], "history": []}),
        json.dumps(
            {
                "schemaVersion": 1,
                "name": "a",
                "tag": "b",
                "fsLayers": [{"blobSum": "x"}],
                "history": [{}],
            }
        ),
        json.dumps({"schemaVersion": 1, "name": "a", "tag": "b", "fsLayers": [{"blobSum": A}]}),
        json.dumps({"schemaVersion": 1, "tag": "b", "fsLayers": [{"blobSum": A}], "history": [{}]}),
        tamper(schema1.signed(schema1.payload("a", "b", [A])), formatLength=10**9, formatTail="fQ"),
        tamper(schema1.signed(schema1.payload("a", "b", [A])), formatTail="fQ"),
        json.dumps({**json.loads(schema1.payload("a", "b", [A])), "signatures": []}),
    ],
    ids=[
        "no layers",
        "bad blobSum",
        "no history",
        "no name",
        "formatLength",
        "no formatLength",
        "empty signatures",
    ],
)
def test_malformed_schema1_is_refused(body: str | bytes) -> None:
    with pytest.raises(ManifestInvalid):
        parse_manifest(body.encode() if isinstance(body, str) else body)


def test_signatures_disagreeing_on_the_payload_are_refused() -> None:
    body = schema1.signed(schema1.payload("a", "b", [A]), 2)
    document = json.loads(body)
    document["signatures"][1]["protected"] = schema1.b64url(
        json.dumps({"formatLength": 20, "formatTail": "fQ"}).encode()
    )
    with pytest.raises(ManifestInvalid):
        parse_manifest(json.dumps(document).encode())
