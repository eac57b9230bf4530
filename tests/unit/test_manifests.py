"""Manifest parsing: the four accepted media types, OCI artifacts, and everything refused."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from dockyard.domain.digests import parse_digest
from dockyard.domain.errors import ManifestInvalid, ManifestTooLarge
from dockyard.domain.manifests import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    MAX_MANIFEST_BYTES,
    MAX_SIZE,
    OCI_INDEX,
    OCI_MANIFEST,
    check_blob_sizes,
    manifest_text,
    parse_manifest,
)

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
SBOM_TYPE = "application/spdx+json"


def sha(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def desc(media_type: str, label: str, size: int, **extra: Any) -> dict[str, Any]:
    """A descriptor whose digest is derived from a label (content is never needed here)."""
    return {"mediaType": media_type, "digest": sha(label), "size": size, **extra}


def image_doc(media_type: str | None = OCI_MANIFEST, **fields: Any) -> dict[str, Any]:
    config_type = DOCKER_CONFIG if media_type == DOCKER_MANIFEST else OCI_CONFIG
    layer_type = DOCKER_LAYER if media_type == DOCKER_MANIFEST else OCI_LAYER
    doc: dict[str, Any] = {"schemaVersion": 2}
    if media_type:
        doc["mediaType"] = media_type
    doc["config"] = desc(config_type, "config", 100)
    doc["layers"] = [desc(layer_type, "layer1", 1000), desc(layer_type, "layer2", 20)]
    doc.update(fields)
    return doc


def index_doc(media_type: str | None = OCI_INDEX, **fields: Any) -> dict[str, Any]:
    child_type = DOCKER_MANIFEST if media_type == DOCKER_LIST else OCI_MANIFEST
    doc: dict[str, Any] = {"schemaVersion": 2}
    if media_type:
        doc["mediaType"] = media_type
    doc["manifests"] = [
        desc(child_type, "amd64", 500, platform={"architecture": "amd64", "os": "linux"}),
        desc(child_type, "arm64", 600, platform={"architecture": "arm64", "os": "linux"}),
    ]
    doc.update(fields)
    return doc


def parse(doc: Any, content_type: str | None = None):
    return parse_manifest(json.dumps(doc).encode(), content_type)


# -- the four media types -----------------------------------------------------------------------


@pytest.mark.parametrize("media_type", [DOCKER_MANIFEST, OCI_MANIFEST])
def test_image_manifests_parse_config_and_layers(media_type: str) -> None:
    manifest = parse(image_doc(media_type), media_type)
    assert manifest.media_type == media_type
    assert not manifest.is_index
    assert manifest.config is not None and manifest.config.digest == parse_digest(sha("config"))
    assert [layer.size for layer in manifest.layers] == [1000, 20]
    assert manifest.blob_digests == [parse_digest(sha(x)) for x in ("config", "layer1", "layer2")]
    assert manifest.children == ()
    assert manifest.own_size == 100 + 1000 + 20


@pytest.mark.parametrize("media_type", [DOCKER_LIST, OCI_INDEX])
def test_indexes_parse_children_and_hold_no_blobs(media_type: str) -> None:
    manifest = parse(index_doc(media_type), media_type)
    assert manifest.media_type == media_type
    assert manifest.is_index
    assert [str(c.digest) for c in manifest.children] == [sha("amd64"), sha("arm64")]
    assert [c.size for c in manifest.children] == [500, 600]
    assert manifest.config is None and manifest.layers == ()
    assert manifest.blob_digests == []
    assert manifest.own_size == 0
    assert manifest.artifact_media_type is None


@pytest.mark.parametrize(
    ("doc", "content_type", "expected"),
    [
        (image_doc(None), OCI_MANIFEST, OCI_MANIFEST),  # no mediaType: the Content-Type decides
        (image_doc(None), DOCKER_MANIFEST, DOCKER_MANIFEST),
        (image_doc(None), None, OCI_MANIFEST),  # neither: OCI, by shape
        (image_doc(None), "application/json", OCI_MANIFEST),
        (index_doc(None), None, OCI_INDEX),
        (index_doc(None), DOCKER_LIST, DOCKER_LIST),
        (image_doc(OCI_MANIFEST), "application/octet-stream", OCI_MANIFEST),
        (image_doc(OCI_MANIFEST), f"{OCI_MANIFEST}; charset=utf-8", OCI_MANIFEST),
        (image_doc(OCI_MANIFEST), OCI_MANIFEST.upper(), OCI_MANIFEST),
    ],
)
def test_media_type_comes_from_document_then_content_type(
    doc: dict[str, Any], content_type: str | None, expected: str
) -> None:
    assert parse(doc, content_type).media_type == expected


# -- OCI 1.1 artifacts ---------------------------------------------------------------------------


def test_artifact_with_artifact_type_and_empty_layers() -> None:
    doc = image_doc(
        OCI_MANIFEST,
        artifactType=SBOM_TYPE,
        config=desc("application/vnd.oci.empty.v1+json", "{}", 2),
        layers=[],
        subject=desc(OCI_MANIFEST, "subject", 321),
        annotations={"org.opencontainers.image.created": "2000-01-01T00:00:00Z"},
    )
    manifest = parse(doc, OCI_MANIFEST)
    assert manifest.artifact_type == SBOM_TYPE
    assert manifest.artifact_media_type == SBOM_TYPE
    assert manifest.layers == ()
    assert manifest.own_size == 2
    assert manifest.blob_digests == [parse_digest(sha("{}"))]
    assert manifest.subject is not None and str(manifest.subject.digest) == sha("subject")
    assert manifest.annotations == {"org.opencontainers.image.created": "2000-01-01T00:00:00Z"}


def test_artifact_media_type_falls_back_to_config_media_type() -> None:
    doc = image_doc(OCI_MANIFEST, config=desc(HELM_CONFIG, "chart config", 10))
    manifest = parse(doc)
    assert manifest.artifact_type is None
    assert manifest.artifact_media_type == HELM_CONFIG


@pytest.mark.parametrize(
    "bad",
    ["application/a\x00b", "application/" + "x" * 128, "no-slash", "a/b/c", "text/plain; x=y", ""],
    ids=["nul", "too-long", "no-slash", "two-slashes", "parameters", "empty"],
)
@pytest.mark.parametrize("where", ["artifactType", "config"])
def test_stored_media_types_must_be_rfc_6838_names(bad: str, where: str) -> None:
    """They become the image's artifactMediaType: garbage must not reach the metadata store."""
    if where == "config":
        doc = image_doc(OCI_MANIFEST, config=desc(bad, "config", 10))
    else:
        doc = image_doc(OCI_MANIFEST, artifactType=bad)
    if where == "artifactType" and bad == "":
        assert parse(doc).artifact_type is None  # empty means absent, as before
        return
    with pytest.raises(ManifestInvalid):
        parse(doc)


def test_longest_rfc_6838_media_type_is_accepted() -> None:
    longest = "a" * 127 + "/" + "b" * 127
    assert parse(image_doc(OCI_MANIFEST, artifactType=longest)).artifact_type == longest


def test_index_may_carry_artifact_type_and_subject() -> None:
    doc = index_doc(OCI_INDEX, artifactType=SBOM_TYPE, subject=desc(OCI_MANIFEST, "s", 9))
    manifest = parse(doc)
    assert manifest.artifact_type == SBOM_TYPE
    assert manifest.subject is not None and manifest.subject.size == 9


def test_descriptor_fields_are_kept() -> None:
    layer = desc(
        OCI_LAYER, "x", 5, artifactType=SBOM_TYPE, annotations={"k": "v"}, urls=["https://x"]
    )
    manifest = parse(image_doc(OCI_MANIFEST, layers=[layer]))
    (parsed,) = manifest.layers
    assert (parsed.artifact_type, parsed.annotations, parsed.urls) == (
        SBOM_TYPE,
        {"k": "v"},
        ("https://x",),
    )


# -- sizes and foreign layers -----------------------------------------------------------------------


@pytest.mark.parametrize("foreign_type", [DOCKER_FOREIGN, OCI_NONDISTRIBUTABLE])
def test_foreign_layers_with_urls_are_not_blobs_but_count_in_size(foreign_type: str) -> None:
    foreign = desc(foreign_type, "windows base", 5000, urls=["https://example.com/base.tar.gz"])
    doc = image_doc(DOCKER_MANIFEST)
    doc["layers"].insert(0, foreign)
    manifest = parse(doc)
    assert manifest.layers[0].is_foreign
    assert manifest.blob_digests == [parse_digest(sha(x)) for x in ("config", "layer1", "layer2")]
    assert manifest.own_size == 100 + 5000 + 1000 + 20


def test_foreign_media_type_without_urls_is_an_ordinary_blob() -> None:
    doc = image_doc(DOCKER_MANIFEST, layers=[desc(DOCKER_FOREIGN, "no urls", 7)])
    manifest = parse(doc)
    assert not manifest.layers[0].is_foreign
    assert manifest.blob_digests == [parse_digest(sha("config")), parse_digest(sha("no urls"))]


def test_ordinary_layer_with_urls_is_still_a_blob() -> None:
    doc = image_doc(OCI_MANIFEST, layers=[desc(OCI_LAYER, "mirrored", 7, urls=["https://m"])])
    assert parse(doc).blob_digests == [parse_digest(sha("config")), parse_digest(sha("mirrored"))]


# -- refused -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "content_type"),
    [
        (image_doc(OCI_MANIFEST), DOCKER_MANIFEST),
        (image_doc(DOCKER_MANIFEST), OCI_MANIFEST),
        (index_doc(OCI_INDEX), DOCKER_LIST),
        (index_doc(OCI_INDEX), OCI_MANIFEST),
    ],
)
def test_media_type_disagreeing_with_content_type_is_refused(doc: Any, content_type: str) -> None:
    with pytest.raises(ManifestInvalid, match="does not match Content-Type"):
        parse(doc, content_type)


def test_content_type_index_for_an_image_document_is_refused() -> None:
    with pytest.raises(ManifestInvalid, match="manifests list"):
        parse(image_doc(None), OCI_INDEX)


def test_missing_config_is_refused() -> None:
    doc = image_doc(OCI_MANIFEST)
    del doc["config"]
    with pytest.raises(ManifestInvalid, match="config"):
        parse(doc)


def _with_layer(**changes: Any) -> dict[str, Any]:
    layer = desc(OCI_LAYER, "layer", 10)
    layer.update(changes)
    return image_doc(OCI_MANIFEST, layers=[{k: v for k, v in layer.items() if v is not None}])


@pytest.mark.parametrize(
    "doc",
    [
        _with_layer(size=-1),
        _with_layer(size=True),  # JSON true is not a size, although bool is an int in Python
        _with_layer(size=1.5),
        _with_layer(size="10"),
        _with_layer(size=None),  # missing
        _with_layer(digest="sha256:" + "A" * 64),
        _with_layer(digest="sha256:abc"),
        _with_layer(digest="md5:" + "a" * 32),
        _with_layer(digest=None),
        _with_layer(digest=42),
        _with_layer(mediaType=None),
        _with_layer(mediaType=""),
        _with_layer(mediaType=7),
        _with_layer(urls="https://not-a-list"),
        _with_layer(urls=[1]),
        _with_layer(annotations={"k": 1}),
        _with_layer(annotations=["k"]),
        _with_layer(artifactType=5),
        image_doc(OCI_MANIFEST, layers=["sha256:" + "a" * 64]),
        image_doc(OCI_MANIFEST, layers={"0": desc(OCI_LAYER, "x", 1)}),
        image_doc(OCI_MANIFEST, config="sha256:" + "a" * 64),
        image_doc(OCI_MANIFEST, config=None),
        image_doc(OCI_MANIFEST, subject={"digest": sha("s")}),
        image_doc(OCI_MANIFEST, artifactType=["a"]),
        image_doc(OCI_MANIFEST, annotations={"k": None}),
        index_doc(OCI_INDEX, manifests=None),
        index_doc(OCI_INDEX, manifests=[desc(OCI_MANIFEST, "x", -5)]),
    ],
)
def test_bad_descriptors_and_fields_are_refused(doc: dict[str, Any]) -> None:
    with pytest.raises(ManifestInvalid):
        parse(doc)


def test_bad_digest_message_says_where() -> None:
    with pytest.raises(ManifestInvalid, match="^layers: invalid sha256 digest"):
        parse(_with_layer(digest="sha256:" + "A" * 64))


@pytest.mark.parametrize(
    ("doc", "content_type"),
    [
        ({"schemaVersion": 1, "name": "a/b", "tag": "t", "fsLayers": [], "history": []}, None),
        (
            {"schemaVersion": 1, "name": "a/b", "tag": "t", "fsLayers": [], "signatures": []},
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ),
        (
            {
                "schemaVersion": 1,
                "mediaType": "application/vnd.docker.distribution.manifest.v1+json",
            },
            None,
        ),
        (image_doc(OCI_MANIFEST, schemaVersion=3), None),
        (image_doc(OCI_MANIFEST, schemaVersion="2"), None),
        ({k: v for k, v in image_doc(OCI_MANIFEST).items() if k != "schemaVersion"}, None),
        (image_doc("application/vnd.example.unknown+json"), None),
        (image_doc(OCI_MANIFEST, mediaType=2), None),
    ],
)
def test_schema_1_and_unknown_versions_or_types_are_refused(
    doc: Any, content_type: str | None
) -> None:
    with pytest.raises(ManifestInvalid):
        parse(doc, content_type)


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"{", b"\xff\xfe{}", b"[]", b"2", b'"manifest"', b"null", b"true"],
)
def test_non_json_and_non_objects_are_refused(body: bytes) -> None:
    with pytest.raises(ManifestInvalid):
        parse_manifest(body, OCI_MANIFEST)


def _padded(total: int) -> bytes:
    """A valid manifest padded with trailing whitespace to exactly `total` bytes."""
    body = json.dumps(image_doc(OCI_MANIFEST)).encode()
    return body + b" " * (total - len(body))


def test_manifest_of_exactly_4_mib_is_accepted() -> None:
    body = _padded(MAX_MANIFEST_BYTES)
    assert len(body) == 4 * 1024 * 1024
    assert parse_manifest(body, OCI_MANIFEST).media_type == OCI_MANIFEST


def test_manifest_over_4_mib_is_refused_before_parsing() -> None:
    with pytest.raises(ManifestTooLarge):
        parse_manifest(_padded(MAX_MANIFEST_BYTES + 1), OCI_MANIFEST)
    with pytest.raises(ManifestTooLarge):  # size is checked first, even for garbage
        parse_manifest(b"x" * (MAX_MANIFEST_BYTES + 1))


# -- what the metadata store and ECR could not hold (issue 10: each was a 500) -------------------


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_json_nested_past_the_parser_stack_is_refused(depth: int) -> None:
    body = b'{"schemaVersion":2,"x":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(ManifestInvalid, match="nests JSON too deeply"):
        parse_manifest(body, OCI_MANIFEST)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_only_utf8_without_bom_is_taken(encoding: str) -> None:
    text = json.dumps(image_doc(OCI_MANIFEST))
    assert parse_manifest(text.encode(), OCI_MANIFEST).media_type == OCI_MANIFEST
    with pytest.raises(ManifestInvalid):
        parse_manifest(text.encode(encoding), OCI_MANIFEST)


@pytest.mark.parametrize("where", ["config", "layer", "subject"])
def test_sizes_past_a_signed_64_bit_integer_are_refused(where: str) -> None:
    huge = desc(OCI_LAYER, "huge", MAX_SIZE + 1)
    doc = image_doc(OCI_MANIFEST)
    if where == "config":
        doc["config"] = desc(OCI_CONFIG, "config", MAX_SIZE + 1)
    elif where == "layer":
        doc["layers"] = [huge]
    else:
        doc["subject"] = desc(OCI_MANIFEST, "subject", MAX_SIZE + 1)
    with pytest.raises(ManifestInvalid, match="exceeds"):
        parse(doc)


def test_a_total_past_a_signed_64_bit_integer_is_refused() -> None:
    foreign = desc(DOCKER_FOREIGN, "f", MAX_SIZE, urls=["https://example.com/f"])
    doc = image_doc(DOCKER_MANIFEST, layers=[foreign, foreign])
    with pytest.raises(ManifestInvalid, match="size exceeds"):
        parse(doc)
    fits = desc(DOCKER_FOREIGN, "f", MAX_SIZE - 100, urls=["https://example.com/f"])
    assert parse(image_doc(DOCKER_MANIFEST, layers=[fits])).own_size == MAX_SIZE


def test_descriptor_sizes_must_be_those_of_the_stored_blobs() -> None:
    manifest = parse(image_doc(OCI_MANIFEST))  # config 100, layers 1000 and 20
    stored = {sha("config"): 100, sha("layer1"): 1000, sha("layer2"): 20}
    check_blob_sizes(manifest, stored)
    with pytest.raises(ManifestInvalid, match="says 1000 bytes; the stored blob has 999"):
        check_blob_sizes(manifest, {**stored, sha("layer1"): 999})


def test_foreign_layer_sizes_are_not_checked_against_blobs() -> None:
    foreign = desc(DOCKER_FOREIGN, "f", 5, urls=["https://example.com/f"])
    manifest = parse(image_doc(DOCKER_MANIFEST, layers=[foreign]))
    check_blob_sizes(manifest, {sha("config"): 100, sha("f"): 6})


def test_manifest_text_decodes_legacy_non_utf8_manifests() -> None:
    text = json.dumps(image_doc(OCI_MANIFEST))
    assert manifest_text(text.encode()) == text
    assert manifest_text(text.encode("utf-16")) == text
    assert manifest_text(text.encode("utf-32-le")) == text
