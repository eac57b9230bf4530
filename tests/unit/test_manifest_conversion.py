"""Docker schema 2 <-> OCI conversion (domain/manifest_conversion.py): both directions, indexes,
what is refused, and that the output is deterministic and parses as the target type."""

from __future__ import annotations

import json

import pytest

from dockyard.domain.manifest_conversion import Converted, Unconvertible, convert, negotiate
from dockyard.domain.manifests import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    parse_manifest,
)

D = "sha256:" + "a" * 64
E = "sha256:" + "b" * 64
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def body(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def image_doc(media_type: str, config: str, layer: str, **extra: object) -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config, "digest": D, "size": 7},
        "layers": [{"mediaType": layer, "digest": E, "size": 9}],
        **extra,
    }


def index_doc(media_type: str, child: str) -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            {
                "mediaType": child,
                "digest": D,
                "size": 300,
                "platform": {"architecture": "arm64", "os": "linux"},
            }
        ],
    }


def test_docker_image_becomes_oci_with_mapped_descriptors() -> None:
    out = convert(body(image_doc(DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)), DOCKER_MANIFEST)
    parsed = parse_manifest(out, OCI_MANIFEST)
    assert parsed.media_type == OCI_MANIFEST
    assert parsed.config is not None and parsed.config.media_type == OCI_CONFIG
    assert [(d.media_type, str(d.digest), d.size) for d in parsed.layers] == [(OCI_LAYER, E, 9)]


def test_oci_image_becomes_docker_and_back_to_the_same_bytes() -> None:
    original = body(image_doc(OCI_MANIFEST, OCI_CONFIG, OCI_LAYER))
    docker = convert(original, OCI_MANIFEST)
    assert json.loads(docker) == image_doc(DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
    assert json.loads(convert(docker, DOCKER_MANIFEST)) == json.loads(original)


@pytest.mark.parametrize(
    ("stored", "child", "target", "mapped"),
    [
        (DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST),
        (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST),
        (OCI_INDEX, OCI_INDEX, DOCKER_LIST, DOCKER_LIST),
    ],
)
def test_indexes_map_their_children(stored: str, child: str, target: str, mapped: str) -> None:
    out = json.loads(convert(body(index_doc(stored, child)), stored))
    assert out["mediaType"] == target
    assert out["manifests"] == [
        {
            "mediaType": mapped,
            "digest": D,
            "size": 300,
            "platform": {"architecture": "arm64", "os": "linux"},
        }
    ]


@pytest.mark.parametrize(
    "document",
    [
        image_doc(OCI_MANIFEST, OCI_CONFIG, OCI_LAYER, artifactType="application/vnd.example"),
        image_doc(
            OCI_MANIFEST,
            OCI_CONFIG,
            OCI_LAYER,
            subject={"mediaType": OCI_MANIFEST, "digest": D, "size": 3},
        ),
        image_doc(OCI_MANIFEST, OCI_CONFIG, OCI_LAYER, annotations={"a": "b"}),
        image_doc(OCI_MANIFEST, "application/vnd.oci.empty.v1+json", OCI_LAYER),
        image_doc(OCI_MANIFEST, OCI_CONFIG, "application/vnd.oci.image.layer.v1.tar+zstd"),
        image_doc(OCI_MANIFEST, OCI_CONFIG, "application/vnd.example.file"),
    ],
    ids=["artifactType", "subject", "annotations", "non-image config", "zstd", "artifact layer"],
)
def test_what_docker_cannot_say_is_refused(document: dict) -> None:
    with pytest.raises(Unconvertible):
        convert(body(document), OCI_MANIFEST)


def test_an_index_child_with_an_artifact_type_is_refused() -> None:
    document = index_doc(OCI_INDEX, OCI_MANIFEST)
    document["manifests"][0]["artifactType"] = "application/vnd.example"
    with pytest.raises(Unconvertible):
        convert(body(document), OCI_INDEX)


def test_output_is_deterministic_whatever_the_input_layout() -> None:
    document = image_doc(DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
    compact = body(document)
    indented = json.dumps(dict(reversed(list(document.items()))), indent=7).encode()
    assert convert(compact, DOCKER_MANIFEST) == convert(indented, DOCKER_MANIFEST)
    assert convert(compact, DOCKER_MANIFEST).startswith(b'{\n   "schemaVersion": 2,')


@pytest.mark.parametrize(
    ("accepted", "expected"),
    [
        ([], None),
        (["*/*"], None),
        (["application/json"], None),
        ([DOCKER_MANIFEST], None),
        ([f"{OCI_MANIFEST};q=0.9"], OCI_MANIFEST),
        ([OCI_MANIFEST, OCI_INDEX], OCI_MANIFEST),
    ],
)
def test_negotiate(accepted: list[str], expected: str | None) -> None:
    stored = body(image_doc(DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER))
    result = negotiate(stored, DOCKER_MANIFEST, accepted)
    if expected is None:
        assert result is None
    else:
        assert isinstance(result, Converted) and result.media_type == expected
        assert result.body == convert(stored, DOCKER_MANIFEST)


@pytest.mark.parametrize(
    "accepted",
    [[DOCKER_LIST], [OCI_INDEX], ["application/vnd.docker.distribution.manifest.v1+json"]],
)
def test_negotiate_refuses_what_no_conversion_reaches(accepted: list[str]) -> None:
    stored = body(image_doc(DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER))
    with pytest.raises(Unconvertible):
        negotiate(stored, DOCKER_MANIFEST, accepted)
