"""Docker schema 1 manifests for tests: unsigned, and signed the way libtrust lays them out.

A signed manifest is the pretty-printed payload with a `signatures` member spliced in before
its closing brace; each signature's protected header says how to cut it back out
(`formatLength`, `formatTail`). The signature value itself is not checked by the registry.
"""

from __future__ import annotations

import base64
import hashlib
import json

UNSIGNED = "application/vnd.docker.distribution.manifest.v1+json"
SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def payload(name: str, tag: str, blob_digests: list[str]) -> bytes:
    """An unsigned schema 1 manifest (3-space indent, as docker wrote them)."""
    document = {
        "schemaVersion": 1,
        "name": name,
        "tag": tag,
        "architecture": "amd64",
        "fsLayers": [{"blobSum": digest} for digest in blob_digests],
        "history": [
            {"v1Compatibility": json.dumps({"id": f"{i:064x}"})} for i in range(len(blob_digests))
        ],
    }
    return json.dumps(document, indent=3).encode()


def signed(unsigned: bytes, signatures: int = 1) -> bytes:
    """`unsigned` with a JWS `signatures` member, cut where libtrust cuts it."""
    length, tail = len(unsigned) - 2, unsigned[-2:]  # the payload ends with "\n}"
    assert tail == b"\n}"
    entries = []
    for i in range(signatures):
        protected = b64url(
            json.dumps(
                {
                    "formatLength": length,
                    "formatTail": b64url(tail),
                    "time": f"2016-01-0{i + 1}T00:00:00Z",
                }
            ).encode()
        )
        entries.append(
            '      {\n         "header": {"alg": "ES256"},\n'
            f'         "signature": "{b64url(bytes([i]) * 64)}",\n'
            f'         "protected": "{protected}"\n      }}'
        )
    body = ',\n   "signatures": [\n' + ",\n".join(entries) + "\n   ]"
    return unsigned[:length] + body.encode() + tail


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
