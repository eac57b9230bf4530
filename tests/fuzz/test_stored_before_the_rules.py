"""Data stored before a rule existed must still be served: `/v2/` once took UTF-16 manifests
(as `json.loads` of bytes does), and BatchGetImage of one was a 500 (issue 10).

The legacy row is written through the image service, below the parsing that now refuses it.
"""

from __future__ import annotations

import json

from dockyard.domain.manifests import parse_manifest
from dockyard.services.images import Reference
from tests.fuzz import world
from tests.fuzz.conftest import Target
from tests.support.ecr import small_image

REPO = world.REPOSITORIES[0]


def test_batch_get_image_of_a_legacy_utf16_manifest(inprocess: Target) -> None:
    svc = inprocess.http.app.state.services  # type: ignore[attr-defined]
    image = small_image("legacy-utf16")
    for blob in image.blobs:
        inprocess.http.post(f"/v2/{REPO}/blobs/uploads/?digest={blob.digest}", content=blob.data)
    text = image.manifest.data.decode()
    legacy = text.encode("utf-16")
    repo = svc.repositories.get(world.ACCOUNT, REPO)
    svc.images.push(repo, Reference.parse("legacy16"), parse_manifest(text.encode()), legacy)

    answer = inprocess.ecr(
        "BatchGetImage",
        json.dumps({"repositoryName": REPO, "imageIds": [{"imageTag": "legacy16"}]}).encode(),
    )
    [found] = answer.json()["images"]
    assert found["imageManifest"] == text
    pulled = inprocess.http.get(f"/v2/{REPO}/manifests/legacy16")
    assert pulled.content == legacy  # /v2/ still serves the stored bytes, as ever
