"""Docker image manifest V2 schema 1, unsigned (`v1+json`) and signed (`v1+prettyjws`).

Obsolete, but ECR still accepts it: kept byte for byte, referencing its layers through
`fsLayers[].blobSum`. It names no sizes, so the image's size comes from the stored blobs.

The digest of a signed manifest is, as in distribution and docker, that of its signed payload:
the JWS's bytes without the `signatures` member, rebuilt from each signature's protected header
(`formatLength` bytes of the document, then the base64url `formatTail`). Signatures are not
verified (libtrust keys need cryptography outside the stdlib; ECR does not document it either).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from dockyard.domain.digests import Digest, parse_digest
from dockyard.domain.errors import DigestInvalid, ManifestInvalid

SCHEMA1_MANIFEST = "application/vnd.docker.distribution.manifest.v1+json"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SCHEMA1_TYPES = frozenset({SCHEMA1_MANIFEST, SCHEMA1_SIGNED})
# What a schema 1 layer is, for a descriptor that has to name a media type.
LAYER_TYPE = "application/vnd.docker.container.image.rootfs.diff+x-gtar"


def schema1_media_type(document: dict[str, Any]) -> str:
    return SCHEMA1_SIGNED if "signatures" in document else SCHEMA1_MANIFEST


def blob_sums(document: dict[str, Any]) -> list[Digest]:
    """The layers' digests, as listed (top layer first), duplicates kept."""
    layers = document.get("fsLayers")
    if not isinstance(layers, list) or not layers:
        raise ManifestInvalid("a schema 1 manifest needs a non-empty fsLayers list")
    for key in ("name", "tag"):
        if not isinstance(document.get(key), str):
            raise ManifestInvalid(f"a schema 1 manifest needs a {key}")
    history = document.get("history")
    if not isinstance(history, list) or len(history) != len(layers):
        raise ManifestInvalid("a schema 1 manifest needs one history entry per fsLayers entry")
    digests = []
    for layer in layers:
        if not isinstance(layer, dict) or not isinstance(layer.get("blobSum"), str):
            raise ManifestInvalid("fsLayers: each entry must be an object with a blobSum")
        try:
            digests.append(parse_digest(layer["blobSum"]))
        except DigestInvalid as exc:
            raise ManifestInvalid(f"fsLayers: {exc.message}") from None
    return digests


def signed_payload(body: bytes, document: dict[str, Any]) -> bytes | None:
    """The bytes a signed manifest's digest is computed over; None when it is unsigned."""
    signatures = document.get("signatures")
    if signatures is None:
        return None
    if not isinstance(signatures, list) or not signatures:
        raise ManifestInvalid("signatures must be a non-empty list")
    payloads = {_payload(body, signature) for signature in signatures}
    if len(payloads) != 1:
        raise ManifestInvalid("the signatures do not agree on the signed payload")
    return payloads.pop()


def _payload(body: bytes, signature: Any) -> bytes:
    protected = signature.get("protected") if isinstance(signature, dict) else None
    if not isinstance(protected, str):
        raise ManifestInvalid("each signature needs a protected header")
    try:
        header = json.loads(_b64url(protected))
        length, tail = header["formatLength"], _b64url(header["formatTail"])
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise ManifestInvalid("a signature's protected header is malformed") from None
    if not isinstance(length, int) or isinstance(length, bool) or not 0 < length <= len(body):
        raise ManifestInvalid("a signature's formatLength is out of range")
    return body[:length] + tail


def _b64url(text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError("not a string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
