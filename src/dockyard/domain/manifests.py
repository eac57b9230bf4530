"""Manifest parsing: what a manifest references, what it weighs, what kind of artifact it is.

Manifests are kept byte-for-byte; this module only reads them. Accepted: Docker schema 2
manifest and list, OCI manifest and index, and the obsolete Docker schema 1, signed or not
(`schema1.py`); anything else is refused with `ManifestInvalid`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.domain.digests import Digest, parse_digest
from dockyard.domain.errors import DigestInvalid, ManifestInvalid, ManifestTooLarge
from dockyard.domain.schema1 import LAYER_TYPE, blob_sums, schema1_media_type, signed_payload

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# Sizes are kept in signed 64-bit SQL columns: a descriptor (or an image's total) past this is
# refused as MANIFEST_INVALID rather than overflowing the metadata store.
MAX_SIZE = 2**63 - 1
# RFC 6838 section 4.2 type/subtype names, which the OCI spec requires of artifactType and
# mediaType. Checked where a value is kept as the image's artifact media type: a stray control
# character or a 10 KB string must be refused as MANIFEST_INVALID, not break the metadata store.
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(f"{_RESTRICTED_NAME}/{_RESTRICTED_NAME}")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()

    @property
    def is_foreign(self) -> bool:
        """Non-distributable layers live elsewhere (`urls`); the registry never holds them."""
        return bool(self.urls) and (
            "foreign" in self.media_type or "nondistributable" in self.media_type
        )


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    children: tuple[Descriptor, ...]
    subject: Descriptor | None
    artifact_type: str | None
    annotations: dict[str, str]
    # Schema 1 only: a signed manifest's digest is that of its payload, not of its JWS bytes;
    # and its layers name no sizes, so the image's size comes from the stored blobs.
    signed_payload: bytes | None = None
    sizes_from_store: bool = False

    def digest_source(self, body: bytes) -> bytes:
        """The bytes whose digest is this manifest's digest (`body` is what was pushed)."""
        return body if self.signed_payload is None else self.signed_payload

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def blob_descriptors(self) -> list[Descriptor]:
        """Descriptors of the blobs the registry must hold for this manifest to be complete."""
        descriptors = ([self.config] if self.config else []) + list(self.layers)
        return [d for d in descriptors if not d.is_foreign]

    @property
    def blob_digests(self) -> list[Digest]:
        return [d.digest for d in self.blob_descriptors]

    @property
    def own_size(self) -> int:
        """ECR's imageSizeInBytes for an image manifest: config plus compressed layers."""
        config = self.config.size if self.config else 0
        return config + sum(layer.size for layer in self.layers)

    @property
    def artifact_media_type(self) -> str | None:
        """ECR's artifactMediaType: the artifact type, else the config media type."""
        if self.artifact_type:
            return self.artifact_type
        return self.config.media_type if self.config else None


def parse_manifest(body: bytes, content_type: str | None = None) -> Manifest:
    """Parse manifest bytes (UTF-8 JSON), checking they agree with the declared Content-Type."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestTooLarge(f"manifest is {len(body)} bytes; the limit is {MAX_MANIFEST_BYTES}")
    document = _load_json(body)
    if document.get("schemaVersion") == 1:
        return _parse_schema1(body, document)
    media_type = _media_type(document, _bare(content_type))
    if document.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 1 or 2")
    if media_type in INDEX_TYPES:
        return _parse_index(document, media_type)
    return _parse_image(document, media_type)


def check_blob_sizes(manifest: Manifest, stored: Mapping[str, int]) -> None:
    """Every held blob's descriptor must state the stored blob's size (by digest in `stored`).

    The image's size (ECR's imageSizeInBytes) is summed from these descriptors, so a manifest
    that claims a 1 TB config for a 15-byte blob would make it a lie.
    """
    if manifest.sizes_from_store:
        return
    for descriptor in manifest.blob_descriptors:
        size = stored.get(str(descriptor.digest))
        if size is not None and size != descriptor.size:
            raise ManifestInvalid(
                f"descriptor of {descriptor.digest} says {descriptor.size} bytes; the stored "
                f"blob has {size}",
                digest=str(descriptor.digest),
            )


def declared_media_type(body: bytes) -> str | None:
    """The manifest's own `mediaType` field, if it is a JSON object that has one."""
    try:
        document = _load_json(body)
    except ManifestInvalid:
        return None
    value = document.get("mediaType")
    return value if isinstance(value, str) and value else None


def manifest_text(body: bytes) -> str:
    """Stored manifest bytes as the text ECR's `imageManifest` carries.

    Pushes take UTF-8 only; manifests stored before that rule (`/v2/` once took UTF-16 and
    UTF-32 JSON, as `json.loads` does) are decoded by the encoding JSON detection finds.
    """
    # Detected first: UTF-32-LE text is also valid UTF-8 (full of NULs).
    return body.decode(json.detect_encoding(body), errors="replace")


def _load_json(body: bytes) -> dict[str, Any]:
    # Decoded first: `json.loads` of bytes would also take UTF-16 and UTF-32 (and a BOM), which
    # ECR cannot return as a manifest string. A RecursionError is a document nested deeper than
    # the parser's stack (e.g. 1,000 `[`): valid JSON, but no manifest.
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ManifestInvalid("manifest is not UTF-8 text") from None
    except ValueError as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    except RecursionError:
        raise ManifestInvalid("manifest nests JSON too deeply") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    return document


def _bare(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _media_type(document: dict[str, Any], content_type: str | None) -> str:
    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    if declared and content_type and content_type in MANIFEST_TYPES and declared != content_type:
        raise ManifestInvalid(f"mediaType {declared} does not match Content-Type {content_type}")
    media_type = declared or (content_type if content_type in MANIFEST_TYPES else None)
    media_type = media_type or (OCI_INDEX if "manifests" in document else OCI_MANIFEST)
    if media_type not in MANIFEST_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type: {media_type}")
    return media_type


def _parse_image(document: dict[str, Any], media_type: str) -> Manifest:
    if "config" not in document:
        raise ManifestInvalid("an image manifest needs a config descriptor")
    layers = document.get("layers", [])
    if not isinstance(layers, list):
        raise ManifestInvalid("layers must be a list")
    config = parse_descriptor(document["config"], "config")
    _media_type_name(config.media_type, "config mediaType")
    manifest = Manifest(
        media_type=media_type,
        config=config,
        layers=tuple(parse_descriptor(item, "layers") for item in layers),
        children=(),
        subject=_optional_descriptor(document, "subject"),
        artifact_type=_media_type_name(_optional_str(document, "artifactType"), "artifactType"),
        annotations=_annotations(document),
    )
    if manifest.own_size > MAX_SIZE:
        raise ManifestInvalid(f"the image's size exceeds {MAX_SIZE} bytes")
    return manifest


def _parse_schema1(body: bytes, document: dict[str, Any]) -> Manifest:
    """Schema 1: each distinct `blobSum` once, as a layer of unknown (store-given) size."""
    layers = tuple(
        Descriptor(LAYER_TYPE, digest, 0) for digest in dict.fromkeys(blob_sums(document))
    )
    return Manifest(
        media_type=schema1_media_type(document),
        config=None,
        layers=layers,
        children=(),
        subject=None,
        artifact_type=None,
        annotations={},
        signed_payload=signed_payload(body, document),
        sizes_from_store=True,
    )


def _parse_index(document: dict[str, Any], media_type: str) -> Manifest:
    children = document.get("manifests")
    if not isinstance(children, list):
        raise ManifestInvalid("an index needs a manifests list")
    return Manifest(
        media_type=media_type,
        config=None,
        layers=(),
        children=tuple(parse_descriptor(item, "manifests") for item in children),
        subject=_optional_descriptor(document, "subject"),
        artifact_type=_media_type_name(_optional_str(document, "artifactType"), "artifactType"),
        annotations=_annotations(document),
    )


def parse_descriptor(item: Any, where: str) -> Descriptor:
    if not isinstance(item, dict):
        raise ManifestInvalid(f"{where}: descriptor must be an object")
    media_type, size = item.get("mediaType"), item.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}: descriptor needs a mediaType")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}: descriptor needs a non-negative size")
    if size > MAX_SIZE:
        raise ManifestInvalid(f"{where}: descriptor size exceeds {MAX_SIZE} bytes")
    try:
        digest = parse_digest(item.get("digest"))
    except DigestInvalid as exc:
        raise ManifestInvalid(f"{where}: {exc.message}") from None
    urls = item.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{where}: urls must be a list of strings")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        artifact_type=_optional_str(item, "artifactType"),
        annotations=_annotations(item),
        urls=tuple(urls),
    )


def _optional_descriptor(document: dict[str, Any], key: str) -> Descriptor | None:
    return parse_descriptor(document[key], key) if document.get(key) is not None else None


def _optional_str(document: dict[str, Any], key: str) -> str | None:
    value = document.get(key)
    if value is not None and not isinstance(value, str):
        raise ManifestInvalid(f"{key} must be a string")
    return value or None


def _media_type_name(value: str | None, what: str) -> str | None:
    if value is not None and not _MEDIA_TYPE.fullmatch(value):
        shown = value if len(value) <= 300 else value[:300] + "..."
        raise ManifestInvalid(f"{what} is not a media type (RFC 6838 type/subtype): {shown!r}")
    return value


def _annotations(document: dict[str, Any]) -> dict[str, str]:
    value = document.get("annotations") or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ManifestInvalid("annotations must map strings to strings")
    return value
