"""Input that a metadata store cannot hold or look up is refused as AWS and OCI refuse it.

Found by running these suites on PostgreSQL (`--e2e-database=postgres`), where a NUL character or
a string longer than its column made the database raise and the server answer 500; SQLite took
both silently. Each case must be a 4xx with the right code on every engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.ecr.conftest import ACCOUNT_A
from tests.support.ecr import REGION, ecr_error, push_v2, small_image

pytestmark = pytest.mark.e2e

NUL = "\x00"


def arn(name: str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT_A}:repository/{name}"


@pytest.mark.parametrize(
    "tag",
    [
        {"Key": "k" * 129, "Value": "v"},
        {"Key": "k", "Value": "v" * 257},
        {"Key": "", "Value": "v"},
        {"Key": f"a{NUL}b", "Value": "v"},
        {"Key": "k", "Value": f"a{NUL}b"},
        {"Key": "k", "Value": "line\nbreak"},
        {"Key": "semi;colon", "Value": "v"},
    ],
    ids=["long-key", "long-value", "empty-key", "nul-key", "nul-value", "newline", "semicolon"],
)
def test_resource_tags_follow_aws_rules(
    ecr_a: Any, new_repo: Callable[..., str], tag: dict[str, str]
) -> None:
    name = new_repo()
    with ecr_error("InvalidTagParameterException"):
        ecr_a.tag_resource(resourceArn=arn(name), tags=[tag])
    assert ecr_a.list_tags_for_resource(resourceArn=arn(name))["tags"] == []


def test_resource_tags_take_what_aws_allows(ecr_a: Any, new_repo: Callable[..., str]) -> None:
    name = new_repo()
    tags = [
        {"Key": "Team Name", "Value": "équipe 7"},
        {"Key": "a_b.c:d/e=f+g-h@i", "Value": ""},
        {"Key": "k" * 128, "Value": "v" * 256},
    ]
    ecr_a.tag_resource(resourceArn=arn(name), tags=tags)
    found = ecr_a.list_tags_for_resource(resourceArn=arn(name))["tags"]
    assert sorted(found, key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])


def test_untag_with_an_impossible_key(ecr_a: Any, new_repo: Callable[..., str]) -> None:
    with ecr_error("InvalidTagParameterException"):
        ecr_a.untag_resource(resourceArn=arn(new_repo()), tagKeys=[f"a{NUL}"])


def test_image_ids_with_impossible_tags(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    image = small_image("impossible-tags")
    push_v2(v2_a, repo, image, "real")
    bad = {"imageTag": f"a{NUL}b"}
    with ecr_error("ImageNotFoundException"):
        ecr_a.describe_images(repositoryName=repo, imageIds=[bad])
    got = ecr_a.batch_get_image(repositoryName=repo, imageIds=[bad, {"imageTag": "real"}])
    assert [i["imageId"]["imageTag"] for i in got["images"]] == ["real"]
    assert [(f["imageId"], f["failureCode"]) for f in got["failures"]] == [(bad, "InvalidImageTag")]
    deleted = ecr_a.batch_delete_image(repositoryName=repo, imageIds=[bad])
    assert [f["failureCode"] for f in deleted["failures"]] == ["InvalidImageTag"]


def test_v2_lookups_with_nul(v2_a: httpx.Client, repo: str) -> None:
    push_v2(v2_a, repo, small_image("v2-nul"), "v1")
    upload = f"/v2/{repo}/blobs/uploads/abc%00def"
    digest = {"digest": "sha256:" + "0" * 64}  # PUT checks it before the upload
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = v2_a.request(method, upload, params=digest if method == "PUT" else None)
        assert response.status_code == 404, method
        assert response.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert v2_a.get(f"/v2/{repo}/tags/list", params={"last": f"a{NUL}"}).status_code == 400
    assert v2_a.get("/v2/_catalog", params={"last": f"a{NUL}"}).status_code == 400


@pytest.mark.parametrize(
    "artifact_type", [f"application/a{NUL}b", "application/" + "x" * 300, "no-slash"]
)
def test_manifests_with_impossible_media_types(
    v2_a: httpx.Client, repo: str, artifact_type: str
) -> None:
    image = small_image("media-types")
    push_v2(v2_a, repo, image)  # its blobs, so only the artifact type is wrong
    document = {**image.manifest_json, "artifactType": artifact_type}
    response = v2_a.put(
        f"/v2/{repo}/manifests/bad",
        content=json.dumps(document).encode(),
        headers={"Content-Type": image.manifest.media_type},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "MANIFEST_INVALID"
