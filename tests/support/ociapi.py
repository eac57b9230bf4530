"""Raw OCI Distribution API calls with httpx, for checks no client tool exposes.

Functions return ``httpx.Response`` so tests assert on status and headers themselves; the
``push_*`` helpers assert the status the spec requires, because a failed setup step should stop
a test with the server's answer in the message. Upload ``Location`` values are followed as given
(relative or absolute, with whatever query the server put there), as real clients do.
"""

from __future__ import annotations

import hashlib

import httpx

from tests.support.images import Blob, Image, Index

__all__ = [
    "INDEX_ACCEPT",
    "MANIFEST_ACCEPT",
    "blob_url",
    "describe",
    "fetch_blob",
    "fetch_manifest",
    "manifest_url",
    "parse_range",
    "patch_chunk",
    "push",
    "push_blob",
    "push_manifest",
    "sha256_digest",
    "start_upload",
    "upload_url",
    "with_params",
]

MANIFEST_ACCEPT = (
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json"
)
INDEX_ACCEPT = "application/vnd.oci.image.index.v1+json"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_url(repo: str, digest: str) -> str:
    return f"/v2/{repo}/blobs/{digest}"


def manifest_url(repo: str, reference: str) -> str:
    return f"/v2/{repo}/manifests/{reference}"


def upload_url(repo: str) -> str:
    return f"/v2/{repo}/blobs/uploads/"


def with_params(location: str, **params: str) -> str:
    """Add query parameters to an upload Location, keeping the server's own (e.g. state)."""
    return str(httpx.URL(location).copy_merge_params(params))


def describe(response: httpx.Response) -> str:
    """One request/response summary for assertion messages (what the lead needs to debug)."""
    request = response.request
    try:
        body = response.content[:1500].decode(errors="replace")
    except httpx.ResponseNotRead:
        body = "(streamed, not read)"
    headers = "\n".join(f"  {k}: {v}" for k, v in response.headers.items())
    return f"{request.method} {request.url} -> {response.status_code}\n{headers}\n  body: {body}"


def start_upload(client: httpx.Client, repo: str) -> str:
    """POST a new upload session; return its Location."""
    response = client.post(upload_url(repo))
    assert response.status_code == 202, describe(response)
    assert response.headers.get("Location"), describe(response)
    return response.headers["Location"]


def patch_chunk(client: httpx.Client, location: str, data: bytes, offset: int) -> httpx.Response:
    """PATCH one chunk at ``offset`` (OCI ``Content-Range: start-end``, inclusive); returns as is."""
    return client.patch(
        location,
        content=data,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(data) - 1}",
        },
    )


def parse_range(value: str) -> tuple[int, int]:
    """``Range: 0-<end>`` of an upload session (inclusive end, no unit, as the OCI spec says)."""
    start, end = value.split("-")
    return int(start), int(end)


def push_blob(client: httpx.Client, repo: str, data: bytes) -> httpx.Response:
    """Monolithic upload (POST, then PUT with the body and ``?digest=``); expects 201."""
    location = start_upload(client, repo)
    response = client.put(
        with_params(location, digest=sha256_digest(data)),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, describe(response)
    return response


def push_manifest(
    client: httpx.Client, repo: str, reference: str, manifest: Blob
) -> httpx.Response:
    """PUT a manifest's exact bytes under a tag or digest; expects 201."""
    response = client.put(
        manifest_url(repo, reference),
        content=manifest.data,
        headers={"Content-Type": manifest.media_type},
    )
    assert response.status_code == 201, describe(response)
    return response


def push(
    client: httpx.Client, repo: str, target: Image | Index, tag: str | None = None
) -> httpx.Response:
    """Push an image or index bottom-up (blobs, child manifests, then the top one)."""
    if isinstance(target, Index):
        for child in target.images:
            push(client, repo, child)
    else:
        for blob in target.blobs:
            push_blob(client, repo, blob.data)
    return push_manifest(client, repo, tag or target.digest, target.manifest)


def fetch_blob(client: httpx.Client, repo: str, digest: str) -> bytes:
    """GET a blob and check it: 200, and the bytes hash to the digest asked for."""
    response = client.get(blob_url(repo, digest))
    assert response.status_code == 200, describe(response)
    assert sha256_digest(response.content) == digest, f"blob bytes do not match {digest}"
    return response.content


def fetch_manifest(client: httpx.Client, repo: str, reference: str) -> httpx.Response:
    """GET a manifest accepting every image type; expects 200 and a matching digest header."""
    response = client.get(manifest_url(repo, reference), headers={"Accept": MANIFEST_ACCEPT})
    assert response.status_code == 200, describe(response)
    assert response.headers.get("Docker-Content-Digest") == sha256_digest(response.content), (
        describe(response)
    )
    return response
