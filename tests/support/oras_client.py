"""oras-py, made strict for tests, plus an artifact push that sets ``artifactType``.

oras-py 0.2's high-level ``push`` cannot set a manifest's ``artifactType`` (it has ``subject``
and a config media type only), so ``push_artifact`` assembles the manifest itself and uploads it
with oras's own ``upload_blob`` / ``upload_manifest``: the bytes on the wire still come from
oras (``requests`` serialising the manifest dict), as they would for an oras user.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import oras.defaults
import oras.oci
import oras.provider
import requests

from tests.support.images import EMPTY_CONFIG, MediaTypes, digest_of

__all__ = ["StrictOras", "push_artifact", "wire_bytes"]

TITLE = oras.defaults.annotation_title


class StrictOras(oras.provider.Registry):
    """oras-py's client without its retry loop.

    ``Registry.do_request`` retries any exception or 500 five times with sleeps of 3 s up to
    83 s; against a broken server that turns one failure into minutes. Tests want the first
    answer, so the undecorated method is used.
    """

    do_request = oras.provider.Registry.do_request.__wrapped__  # type: ignore[attr-defined]


def wire_bytes(manifest: dict[str, Any]) -> bytes:
    """The bytes ``requests`` sends for ``json=manifest`` (so tests know the pushed digest)."""
    return json.dumps(manifest, allow_nan=False).encode()


def push_artifact(
    client: StrictOras,
    repo_ref: str,
    files: list[Path],
    *,
    artifact_type: str,
    subject: oras.oci.Subject | None = None,
    annotations: dict[str, str] | None = None,
    file_media_type: str = "application/octet-stream",
    by_digest: bool = True,
) -> tuple[requests.Response, bytes]:
    """Push an OCI 1.1 artifact (empty config, one layer per file) with oras's upload calls.

    ``repo_ref`` is ``host/repo`` (pushed by digest, as referrers usually are) or
    ``host/repo:tag`` with ``by_digest=False``. Returns the manifest PUT response and the
    manifest bytes that were sent.
    """
    container = client.get_container(repo_ref)
    layers = [_upload_file(client, container, path, file_media_type) for path in files]
    config = {
        "mediaType": MediaTypes.OCI_EMPTY,
        "digest": EMPTY_CONFIG.digest,
        "size": EMPTY_CONFIG.size,
    }
    _upload_bytes(client, container, EMPTY_CONFIG.data, config, files[0].parent)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MediaTypes.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config,
        "layers": layers,
    }
    if subject:
        manifest["subject"] = asdict(subject)
    if annotations:
        manifest["annotations"] = annotations
    data = wire_bytes(manifest)
    if by_digest:
        container = client.get_container(f"{repo_ref}@{digest_of(data)}")
    return client.upload_manifest(manifest, container), data


def _upload_file(client: StrictOras, container: Any, path: Path, media_type: str) -> dict[str, Any]:
    """Upload one file as a layer named by its title annotation (as ``oras push`` does)."""
    layer = oras.oci.NewLayer(str(path), media_type=media_type)
    layer["annotations"] = {TITLE: path.name}
    client._check_200_response(client.upload_blob(str(path), container, layer))
    return layer


def _upload_bytes(
    client: StrictOras, container: Any, data: bytes, layer: dict[str, Any], scratch: Path
) -> None:
    """Upload in-memory bytes through oras (which only uploads files)."""
    path = scratch / f".blob-{layer['digest'].split(':')[1]}"
    path.write_bytes(data)
    try:
        client._check_200_response(client.upload_blob(str(path), container, layer))
    finally:
        path.unlink()
