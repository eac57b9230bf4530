"""Manifest conversion between Docker schema 2 and OCI, as ECR does on a pull by tag.

    negotiate(stored bytes, stored type, accepted types)
        -> None              the stored manifest is served as it is
        -> Converted         bytes + media type to serve instead (digest = digest of the bytes)
        raises Unconvertible the client accepts nothing the manifest can be served as

Only the outer manifest is rewritten: descriptors keep their digests and sizes, their media
types are mapped between the Docker and OCI names. What one format cannot say (OCI artifacts:
`artifactType`, `subject`, a non-image config; top-level annotations; zstd layers) refuses the
conversion to Docker. Output is deterministic: fixed key order, 3-space indent, UTF-8.
Pure: stdlib only.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from dockyard.domain.manifests import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from dockyard.domain.schema1 import SCHEMA1_TYPES

ALL_MANIFEST_TYPES = (
    frozenset({DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX}) | SCHEMA1_TYPES
)

# Docker name -> OCI name, for everything a Docker schema 2 manifest or list may reference.
_DOCKER_TO_OCI = {
    DOCKER_MANIFEST: OCI_MANIFEST,
    DOCKER_LIST: OCI_INDEX,
    "application/vnd.docker.container.image.v1+json": "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
}
_OCI_TO_DOCKER = {oci: docker for docker, oci in _DOCKER_TO_OCI.items()}
# The target format of each stored type, and the mapping of its descriptors' media types.
_TARGET = {
    DOCKER_MANIFEST: OCI_MANIFEST,
    DOCKER_LIST: OCI_INDEX,
    OCI_MANIFEST: DOCKER_MANIFEST,
    OCI_INDEX: DOCKER_LIST,
}
# Top-level members each target format has, in the order they are written.
_KEYS = {
    OCI_MANIFEST: ("config", "layers", "subject", "annotations"),
    OCI_INDEX: ("manifests", "subject", "annotations"),
    DOCKER_MANIFEST: ("config", "layers"),
    DOCKER_LIST: ("manifests",),
}


class Unconvertible(Exception):
    """The stored manifest is not among the accepted types and cannot be converted to one."""


@dataclass(frozen=True)
class Converted:
    body: bytes
    media_type: str


def accepted_manifest_types(accepted: Collection[str]) -> frozenset[str] | None:
    """The manifest types a client restricts itself to, or None if it takes any manifest.

    An `Accept` (or `acceptedMediaTypes`) naming no manifest type, or `*/*`, takes anything.
    """
    types = {value.split(";", 1)[0].strip().lower() for value in accepted}
    listed = frozenset(types & ALL_MANIFEST_TYPES)
    return None if not listed or "*/*" in types else listed


def negotiate(body: bytes, media_type: str, accepted: Collection[str]) -> Converted | None:
    """What to serve for a pull by tag of `body` (stored as `media_type`); see module doc."""
    listed = accepted_manifest_types(accepted)
    if listed is None or media_type in listed:
        return None
    target = _TARGET.get(media_type)
    if target is None or target not in listed:
        raise Unconvertible(
            f"manifest of type {media_type} is not among the accepted types "
            f"{sorted(listed)} and cannot be converted to one of them"
        )
    return Converted(convert(body, media_type), target)


def convert(body: bytes, media_type: str) -> bytes:
    """Rewrite a Docker schema 2 manifest/list as OCI, or an OCI manifest/index as Docker."""
    target = _TARGET.get(media_type)
    if target is None:
        raise Unconvertible(f"no conversion from {media_type}")
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Unconvertible("stored manifest is not JSON") from None
    if not isinstance(document, dict):
        raise Unconvertible("stored manifest is not a JSON object")
    to_docker = target in (DOCKER_MANIFEST, DOCKER_LIST)
    if to_docker:
        _refuse_oci_only(document)
    mapping = _OCI_TO_DOCKER if to_docker else _DOCKER_TO_OCI
    out: dict[str, Any] = {"schemaVersion": 2, "mediaType": target}
    for key in _KEYS[target]:
        if key in document:
            out[key] = _mapped(document[key], mapping, key)
    return json.dumps(out, indent=3, ensure_ascii=False).encode("utf-8")


def _refuse_oci_only(document: dict[str, Any]) -> None:
    for key in ("artifactType", "subject", "annotations"):
        if document.get(key):
            raise Unconvertible(f"a Docker manifest cannot carry {key}")


def _mapped(value: Any, mapping: dict[str, str], key: str) -> Any:
    if key in ("layers", "manifests"):
        if not isinstance(value, list):
            raise Unconvertible(f"{key} is not a list")
        return [_descriptor(item, mapping, key) for item in value]
    if key in ("config", "subject"):
        return _descriptor(value, mapping, key)
    return value


def _descriptor(item: Any, mapping: dict[str, str], where: str) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("mediaType"), str):
        raise Unconvertible(f"{where}: malformed descriptor")
    if mapping is _OCI_TO_DOCKER and item.get("artifactType"):
        raise Unconvertible(f"{where}: a Docker descriptor cannot carry artifactType")
    media_type = item["mediaType"]
    if media_type in mapping.values():  # already named as the target format names it
        return dict(item)
    if media_type not in mapping:
        raise Unconvertible(f"{where}: {media_type} has no counterpart in the other format")
    return {**item, "mediaType": mapping[media_type]}
