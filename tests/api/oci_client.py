"""A small OCI distribution client over Starlette's TestClient, plus builders for what it pushes.

Manifests here are synthetic but valid: every descriptor's digest and size are those of real
bytes, so the registry can check them. `image`, `artifact` and `index` build documents;
`OciClient` pushes them (blobs first) and reads answers the way `oras`, `crane` or `skopeo` do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.testclient import TestClient

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCTET_STREAM = "application/octet-stream"

# Test data the API suites share.
NAME = "team/app"
OTHER = "team/other"
DATA = b"0123456789"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def short(value: object) -> str:
    """A readable test id for long parameters."""
    text = str(value)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} chars)"


def json_bytes(document: Any, indent: int | None = None) -> bytes:
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(document, indent=indent, separators=separators).encode()


# -- what gets pushed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    data: bytes
    media_type: str = OCTET_STREAM

    @property
    def digest(self) -> str:
        return sha256(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
            **extra,
        }


@dataclass(frozen=True)
class Manifest:
    """Manifest bytes, their media type, and the blobs that must be pushed before them."""

    body: bytes
    media_type: str
    blobs: tuple[Blob, ...] = ()

    @property
    def digest(self) -> str:
        return sha256(self.body)

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.body)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return Blob(self.body, self.media_type).descriptor(**extra)


def image(
    label: str, flavor: str = "oci", layers: int = 2, indent: int | None = None, **fields: Any
) -> Manifest:
    """An image manifest with a config and `layers` layers, all derived from `label`."""
    docker = flavor == "docker"
    config = Blob(
        json_bytes({"label": label, "architecture": "amd64", "os": "linux"}),
        DOCKER_CONFIG if docker else OCI_CONFIG,
    )
    parts = tuple(
        Blob(f"{label} layer {i}".encode() * 10, DOCKER_LAYER if docker else OCI_LAYER)
        for i in range(layers)
    )
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.descriptor(),
        "layers": [p.descriptor() for p in parts],
        **fields,
    }
    return Manifest(json_bytes(document, indent), media_type, (config, *parts))


def artifact(
    label: str,
    artifact_type: str | None,
    subject: Manifest | None = None,
    annotations: dict[str, str] | None = None,
    config_type: str = OCI_EMPTY,
) -> Manifest:
    """An OCI 1.1 artifact: one file layer, an empty (or typed) config, maybe a subject."""
    config = Blob(b"{}", config_type)
    file = Blob(f"{label} payload".encode(), "application/vnd.example.file")
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    if artifact_type:
        document["artifactType"] = artifact_type
    document["config"] = config.descriptor()
    document["layers"] = [file.descriptor()]
    if subject is not None:
        document["subject"] = subject.descriptor()
    if annotations:
        document["annotations"] = annotations
    return Manifest(json_bytes(document), OCI_MANIFEST, (config, file))


def index(children: Sequence[Manifest], flavor: str = "oci", **fields: Any) -> Manifest:
    """An OCI index or Docker manifest list over `children` (pushed separately, before it)."""
    media_type = DOCKER_LIST if flavor == "docker" else OCI_INDEX
    platforms = ["amd64", "arm64", "s390x", "ppc64le"]
    manifests = [
        child.descriptor(platform={"architecture": platforms[i % 4], "os": "linux"})
        for i, child in enumerate(children)
    ]
    document = {"schemaVersion": 2, "mediaType": media_type, "manifests": manifests, **fields}
    return Manifest(json_bytes(document), media_type)


# -- the client ------------------------------------------------------------------------------------


def with_query(url: str, **params: str) -> str:
    """Add query parameters to a Location, which may already carry some."""
    return url + ("&" if "?" in url else "?") + urlencode(params)


def error_codes(response: httpx.Response) -> list[str]:
    """The codes of an OCI error envelope, checking it is one."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    errors = response.json()["errors"]
    assert all(isinstance(e["message"], str) for e in errors)
    return [e["code"] for e in errors]


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert (response.status_code, error_codes(response)) == (status, [code]), response.text


@dataclass(frozen=True)
class State:
    """What a failed push must not change."""

    catalog: tuple[str, ...]
    tags: tuple[str, ...] | None
    blobs: tuple[str, ...]
    staged_uploads: tuple[str, ...]


class OciClient:
    def __init__(self, http: TestClient) -> None:
        self.http = http

    # -- blobs and uploads ---------------------------------------------------------------------

    def push_blob(self, name: str, data: bytes) -> str:
        """Monolithic push (POST with ?digest=); the blob's digest."""
        digest = sha256(data)
        response = self.http.post(
            with_query(f"/v2/{name}/blobs/uploads/", digest=digest),
            content=data,
            headers={"Content-Type": OCTET_STREAM},
        )
        assert response.status_code == 201, response.text
        return digest

    def start_upload(self, name: str) -> str:
        """POST a new upload session; its Location."""
        response = self.http.post(f"/v2/{name}/blobs/uploads/")
        assert response.status_code == 202, response.text
        return response.headers["Location"]

    def patch(self, location: str, data: bytes, start: int | None = None) -> httpx.Response:
        """Send a chunk; with `start`, as the spec's chunked upload does (Content-Range)."""
        headers = {"Content-Type": OCTET_STREAM}
        if start is not None:
            headers["Content-Range"] = f"{start}-{start + len(data) - 1}"
        return self.http.patch(location, content=data, headers=headers)

    def complete(self, location: str, digest: str, data: bytes = b"") -> httpx.Response:
        return self.http.put(
            with_query(location, digest=digest),
            content=data,
            headers={"Content-Type": OCTET_STREAM},
        )

    def blob(self, name: str, digest: str) -> httpx.Response:
        return self.http.get(f"/v2/{name}/blobs/{digest}")

    # -- manifests -----------------------------------------------------------------------------

    def put_manifest(
        self, name: str, reference: str, body: bytes | Manifest, media_type: str | None = None
    ) -> httpx.Response:
        if isinstance(body, Manifest):
            media_type, body = media_type or body.media_type, body.body
        headers = {"Content-Type": media_type} if media_type else {}
        return self.http.put(f"/v2/{name}/manifests/{reference}", content=body, headers=headers)

    def push(self, name: str, manifest: Manifest, reference: str | None = None) -> httpx.Response:
        """Push a manifest's blobs, then the manifest by tag (or by digest when no tag)."""
        for blob in manifest.blobs:
            self.push_blob(name, blob.data)
        response = self.put_manifest(name, reference or manifest.digest, manifest)
        assert response.status_code == 201, response.text
        return response

    def manifest(self, name: str, reference: str, accept: str | None = None) -> httpx.Response:
        headers = {"Accept": accept} if accept else {}
        return self.http.get(f"/v2/{name}/manifests/{reference}", headers=headers)

    # -- listings and state --------------------------------------------------------------------

    def tags(self, name: str) -> list[str] | None:
        response = self.http.get(f"/v2/{name}/tags/list")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return response.json()["tags"]

    def catalog(self) -> list[str]:
        response = self.http.get("/v2/_catalog")
        assert response.status_code == 200, response.text
        return response.json()["repositories"]

    def follow_pages(self, url: str, key: str) -> tuple[list[str], list[str]]:
        """Every item over all pages, following Link headers; also the links followed."""
        items, links = [], []
        while url:
            response = self.http.get(url)
            assert response.status_code == 200, response.text
            items += response.json()[key]
            link = response.headers.get("Link")
            links.append(link)
            url = link[1 : link.index(">")] if link else ""
        return items, links

    def state(self, name: str) -> State:
        store = self.http.app.state.services.blob_store
        # The filesystem store stages uploads in <root>/uploads (backends/blobs/fs/paths.py).
        staged = Path(store.root) / "uploads"
        return State(
            catalog=tuple(self.catalog()),
            tags=None if (tags := self.tags(name)) is None else tuple(tags),
            blobs=tuple(store.list()),
            staged_uploads=tuple(sorted(p.name for p in staged.iterdir()))
            if staged.exists()
            else (),
        )

    @contextmanager
    def unchanged(self, name: str) -> Iterator[None]:
        """Assert the block leaves repositories, tags, blobs and staged uploads as they were."""
        before = self.state(name)
        yield
        assert self.state(name) == before
