"""Image operations other than DescribeImages: ListImages, BatchGetImage, PutImage,
BatchDeleteImage, ListImageReferrers and UpdateImageStorageClass (spec section 7.2)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.ecr.conftest import ACCOUNT_A
from tests.support import ociapi, schema1
from tests.support.ecr import (
    ecr_error,
    push_ecr,
    push_v2,
    small_image,
    upload_layer_ecr,
    wait_for,
)
from tests.support.images import (
    Image,
    MediaTypes,
    Platform,
    build_artifact,
    build_index,
    canonical_json,
)

pytestmark = pytest.mark.e2e

NO_DIGEST = "sha256:" + "0" * 64


def entries(found: list[dict[str, Any]]) -> set[tuple[str, str | None]]:
    return {(e["imageDigest"], e.get("imageTag")) for e in found}


def tags_of(client: Any, repo: str, digest: str, **filters: str) -> list[str] | None:
    kwargs: dict[str, Any] = {"imageIds": [{"imageDigest": digest}]}
    if filters:
        kwargs["filter"] = filters
    (detail,) = client.describe_images(repositoryName=repo, **kwargs)["imageDetails"]
    return sorted(detail["imageTags"]) if "imageTags" in detail else None


def exists(client: Any, repo: str, digest: str) -> bool:
    found = client.list_images(repositoryName=repo, filter={"tagStatus": "ANY"})["imageIds"]
    return digest in {e["imageDigest"] for e in found}


def upload_blobs(client: Any, repo: str, image: Image) -> None:
    for blob in image.blobs:
        upload_layer_ecr(client, repo, blob.data)


# --------------------------------------------------------------------------- ListImages


def test_list_images_one_entry_per_tag(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    x, y, z = small_image("list-x"), small_image("list-y"), small_image("list-z")
    push_v2(v2_a, repo, x, "a", "b")
    push_v2(v2_a, repo, y)
    push_v2(v2_a, repo, z, "c")

    listed = ecr_a.list_images(repositoryName=repo)
    assert "nextToken" not in listed
    assert len(listed["imageIds"]) == 4
    assert entries(listed["imageIds"]) == {
        (x.digest, "a"),
        (x.digest, "b"),
        (y.digest, None),
        (z.digest, "c"),
    }
    untagged = [e for e in listed["imageIds"] if e["imageDigest"] == y.digest]
    assert untagged == [{"imageDigest": y.digest}]

    tagged = ecr_a.list_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})["imageIds"]
    assert entries(tagged) == {(x.digest, "a"), (x.digest, "b"), (z.digest, "c")}
    bare = ecr_a.list_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})["imageIds"]
    assert bare == [{"imageDigest": y.digest}]

    pages = list(
        ecr_a.get_paginator("list_images").paginate(
            repositoryName=repo, PaginationConfig={"PageSize": 3}
        )
    )
    assert [len(p["imageIds"]) for p in pages] == [3, 1]
    flat = [e for p in pages for e in p["imageIds"]]
    assert len(flat) == 4 and entries(flat) == entries(listed["imageIds"])


def test_list_images_errors(ecr_a: Any, repo: str) -> None:
    with ecr_error(
        "RepositoryNotFoundException",
        f"The repository with name 'ecr-e2e/nope' does not exist in the registry with id '{ACCOUNT_A}'",
    ):
        ecr_a.list_images(repositoryName="ecr-e2e/nope")
    with ecr_error(
        "InvalidParameterException",
        "Invalid parameter at 'maxResults' failed to satisfy constraint: "
        "'Member must have value less than or equal to 1000'",
    ):
        ecr_a.list_images(repositoryName=repo, maxResults=1001)
    with ecr_error("InvalidParameterException"):
        ecr_a.list_images(repositoryName=repo, nextToken="garbage")


# --------------------------------------------------------------------------- BatchGetImage


def test_batch_get_image(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    x = small_image("bgi-x", layers=2)
    pretty = small_image("bgi-pretty")
    pretty = Image(  # a pretty-printed manifest must come back byte for byte
        manifest=type(pretty.manifest)(
            pretty.manifest.media_type, canonical_json(pretty.manifest_json, indent=3)
        ),
        config=pretty.config,
        layers=pretty.layers,
    )
    push_v2(v2_a, repo, x, "a", "b")
    push_v2(v2_a, repo, pretty)

    answer = ecr_a.batch_get_image(
        repositoryName=repo,
        imageIds=[
            {"imageTag": "a"},
            {"imageTag": "b"},
            {"imageDigest": pretty.digest},
            {"imageTag": "nope"},
            {"imageDigest": NO_DIGEST},
        ],
    )
    images = sorted(
        answer["images"],
        key=lambda i: (i["imageId"]["imageDigest"], i["imageId"].get("imageTag", "")),
    )
    expected = sorted(
        [
            (x, {"imageDigest": x.digest, "imageTag": "a"}),
            (x, {"imageDigest": x.digest, "imageTag": "b"}),
            (pretty, {"imageDigest": pretty.digest}),
        ],
        key=lambda e: (e[1]["imageDigest"], e[1].get("imageTag", "")),
    )
    assert len(images) == 3, answer
    for got, (image, image_id) in zip(images, expected, strict=True):
        assert got["registryId"] == ACCOUNT_A
        assert got["repositoryName"] == repo
        assert got["imageId"] == image_id
        assert got["imageManifest"].encode() == image.manifest.data
        assert got["imageManifestMediaType"] == image.manifest.media_type

    failures = sorted(answer["failures"], key=lambda f: f["imageId"].get("imageTag", ""))
    assert failures == [
        {"imageId": {"imageDigest": NO_DIGEST}, "failureCode": "ImageNotFound",
         "failureReason": "Requested image not found"},
        {"imageId": {"imageTag": "nope"}, "failureCode": "ImageNotFound",
         "failureReason": "Requested image not found"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    "image_id, code",
    [
        ({}, "MissingDigestAndTag"),
        ({"imageTag": "x", "imageDigest": "y"}, "ImageTagDoesNotMatchDigest"),
    ],
)
def test_batch_get_image_failure_codes(
    ecr_a: Any, v2_a: httpx.Client, repo: str, image_id: dict[str, str], code: str
) -> None:
    """Unresolvable ids are per-item failures, never an exception for the whole call."""
    x, y = small_image("bgi-codes-x"), small_image("bgi-codes-y")
    push_v2(v2_a, repo, x, "x")
    push_v2(v2_a, repo, y, "y")
    if image_id.get("imageDigest") == "y":
        image_id = {**image_id, "imageDigest": y.digest}
    answer = ecr_a.batch_get_image(repositoryName=repo, imageIds=[image_id, {"imageTag": "y"}])
    assert [i["imageId"] for i in answer["images"]] == [{"imageDigest": y.digest, "imageTag": "y"}]
    assert [(f["imageId"], f["failureCode"]) for f in answer["failures"]] == [(image_id, code)]


def test_batch_get_image_unknown_repository(ecr_a: Any) -> None:
    with ecr_error("RepositoryNotFoundException"):
        ecr_a.batch_get_image(repositoryName="ecr-e2e/nope", imageIds=[{"imageTag": "x"}])


# --------------------------------------------------------------------------- PutImage


def test_put_image_stores_the_manifest(ecr_a: Any, repo: str) -> None:
    image = small_image("put", layers=2)
    upload_blobs(ecr_a, repo, image)
    before = time.time()
    put = ecr_a.put_image(
        repositoryName=repo,
        imageManifest=image.manifest.data.decode(),
        imageManifestMediaType=image.manifest.media_type,
        imageTag="v1",
        imageDigest=image.digest,
    )["image"]
    assert put == {
        "registryId": ACCOUNT_A,
        "repositoryName": repo,
        "imageId": {"imageDigest": image.digest, "imageTag": "v1"},
        "imageManifest": image.manifest.data.decode(),
        "imageManifestMediaType": MediaTypes.OCI_MANIFEST,
    }
    (detail,) = ecr_a.describe_images(repositoryName=repo)["imageDetails"]
    assert detail["imageDigest"] == image.digest
    assert detail["imageTags"] == ["v1"]
    assert before - 1 <= detail["imagePushedAt"].timestamp() <= time.time() + 1


def test_put_image_digest_mismatch(ecr_a: Any, repo: str) -> None:
    image = small_image("put-mismatch")
    upload_blobs(ecr_a, repo, image)
    with ecr_error("ImageDigestDoesNotMatchException"):
        ecr_a.put_image(
            repositoryName=repo,
            imageManifest=image.manifest.data.decode(),
            imageDigest=NO_DIGEST,
            imageTag="v1",
        )
    assert ecr_a.describe_images(repositoryName=repo)["imageDetails"] == []


def test_put_image_with_missing_layers(ecr_a: Any, repo: str) -> None:
    image = small_image("put-missing", layers=2)
    upload_layer_ecr(ecr_a, repo, image.config.data)  # config only; no layers
    with ecr_error("LayersNotFoundException"):
        ecr_a.put_image(
            repositoryName=repo, imageManifest=image.manifest.data.decode(), imageTag="v1"
        )
    assert ecr_a.describe_images(repositoryName=repo)["imageDetails"] == []


def test_put_index_with_missing_children(ecr_a: Any, repo: str) -> None:
    children = [
        small_image("idx-a", platform=Platform("amd64")),
        small_image("idx-b", platform=Platform("arm64")),
    ]
    push_ecr(ecr_a, repo, children[0])  # the second child is never pushed
    index = build_index(children)
    with ecr_error("ReferencedImagesNotFoundException"):
        ecr_a.put_image(
            repositoryName=repo, imageManifest=index.manifest.data.decode(), imageTag="multi"
        )
    assert [
        d["imageDigest"] for d in ecr_a.describe_images(repositoryName=repo)["imageDetails"]
    ] == [children[0].digest]


def test_put_image_needs_a_media_type(ecr_a: Any, repo: str) -> None:
    image = small_image("put-no-type")
    document = dict(image.manifest_json)
    document.pop("mediaType")
    manifest = canonical_json(document).decode()
    upload_blobs(ecr_a, repo, image)
    with ecr_error("InvalidParameterException"):
        ecr_a.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v1")
    put = ecr_a.put_image(
        repositoryName=repo,
        imageManifest=manifest,
        imageTag="v1",
        imageManifestMediaType=MediaTypes.OCI_MANIFEST,
    )["image"]
    assert put["imageManifestMediaType"] == MediaTypes.OCI_MANIFEST
    (detail,) = ecr_a.describe_images(repositoryName=repo)["imageDetails"]
    assert detail["imageManifestMediaType"] == MediaTypes.OCI_MANIFEST
    assert detail["imageDigest"] == ociapi.sha256_digest(manifest.encode())


def test_put_image_twice_retag_and_tag_moves(ecr_a: Any, repo: str) -> None:
    first, second = small_image("put-first"), small_image("put-second")
    push_ecr(ecr_a, repo, first, "v1")
    pushed_at = ecr_a.describe_images(repositoryName=repo)["imageDetails"][0]["imagePushedAt"]

    message = (
        f"Image with digest '{first.digest}' and tag 'v1' already exists in the repository "
        f"with name '{repo}' in registry with id '{ACCOUNT_A}'"
    )
    with ecr_error("ImageAlreadyExistsException", message):
        ecr_a.put_image(
            repositoryName=repo, imageManifest=first.manifest.data.decode(), imageTag="v1"
        )

    # Retag: same manifest, new tag; the image keeps its push time.
    retagged = ecr_a.put_image(
        repositoryName=repo, imageManifest=first.manifest.data.decode(), imageTag="v2"
    )
    assert retagged["image"]["imageId"] == {"imageDigest": first.digest, "imageTag": "v2"}
    assert tags_of(ecr_a, repo, first.digest) == ["v1", "v2"]
    (detail,) = ecr_a.describe_images(repositoryName=repo)["imageDetails"]
    assert detail["imagePushedAt"] == pushed_at

    # A tag moves to the new image; the old one keeps its other tag, then becomes untagged.
    push_ecr(ecr_a, repo, second, "v1")
    assert tags_of(ecr_a, repo, first.digest) == ["v2"]
    assert tags_of(ecr_a, repo, second.digest) == ["v1"]
    ecr_a.put_image(repositoryName=repo, imageManifest=second.manifest.data.decode(), imageTag="v2")
    assert tags_of(ecr_a, repo, first.digest) is None
    assert tags_of(ecr_a, repo, second.digest) == ["v1", "v2"]
    untagged = ecr_a.describe_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})
    assert [d["imageDigest"] for d in untagged["imageDetails"]] == [first.digest]


def test_immutable_repository_refuses_tag_reuse(
    ecr_a: Any, v2_a: httpx.Client, new_repo: Any
) -> None:
    repo = new_repo(imageTagMutability="IMMUTABLE")
    first, second = small_image("immutable-1"), small_image("immutable-2")
    push_ecr(ecr_a, repo, first, "v1")
    upload_blobs(ecr_a, repo, second)
    with ecr_error("ImageTagAlreadyExistsException"):
        ecr_a.put_image(
            repositoryName=repo, imageManifest=second.manifest.data.decode(), imageTag="v1"
        )
    with ecr_error("ImageTagAlreadyExistsException"):  # even for the same manifest (AWS does this)
        ecr_a.put_image(
            repositoryName=repo, imageManifest=first.manifest.data.decode(), imageTag="v1"
        )
    assert tags_of(ecr_a, repo, first.digest) == ["v1"]

    # Through /v2/ the same refusal is TAG_INVALID with ECR's text.
    response = v2_a.put(
        ociapi.manifest_url(repo, "v1"),
        content=second.manifest.data,
        headers={"Content-Type": second.manifest.media_type},
    )
    assert response.status_code == 400, ociapi.describe(response)
    error = response.json()["errors"][0]
    assert error["code"] == "TAG_INVALID"
    assert error["message"] == (
        f"The image tag 'v1' already exists in the '{repo}' repository and cannot be "
        "overwritten because the repository is immutable."
    )
    assert tags_of(ecr_a, repo, first.digest) == ["v1"]
    # New tags are fine.
    ecr_a.put_image(repositoryName=repo, imageManifest=second.manifest.data.decode(), imageTag="v2")
    assert tags_of(ecr_a, repo, second.digest) == ["v2"]


def test_mutability_exclusion_filters(ecr_a: Any, new_repo: Any) -> None:
    images = [small_image(f"excl-{i}") for i in range(4)]

    immutable_but_dev = new_repo(
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "dev-*"}],
    )
    push_ecr(ecr_a, immutable_but_dev, images[0], "dev-1")
    push_ecr(ecr_a, immutable_but_dev, images[0], "v1")
    push_ecr(ecr_a, immutable_but_dev, images[1], "dev-1")  # excluded: may move
    assert tags_of(ecr_a, immutable_but_dev, images[1].digest) == ["dev-1"]
    upload_blobs(ecr_a, immutable_but_dev, images[2])
    with ecr_error("ImageTagAlreadyExistsException"):
        push_ecr(ecr_a, immutable_but_dev, images[2], "v1")

    mutable_but_release = new_repo(
        imageTagMutability="MUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "release-*"}],
    )
    push_ecr(ecr_a, mutable_but_release, images[0], "latest")
    push_ecr(ecr_a, mutable_but_release, images[0], "release-1")
    push_ecr(ecr_a, mutable_but_release, images[1], "latest")  # not excluded: may move
    assert tags_of(ecr_a, mutable_but_release, images[1].digest) == ["latest"]
    upload_blobs(ecr_a, mutable_but_release, images[3])
    with ecr_error("ImageTagAlreadyExistsException"):
        push_ecr(ecr_a, mutable_but_release, images[3], "release-1")
    assert tags_of(ecr_a, mutable_but_release, images[0].digest) == ["release-1"]


def test_put_image_into_missing_repository(ecr_a: Any) -> None:
    image = small_image("nowhere")
    with ecr_error("RepositoryNotFoundException"):
        ecr_a.put_image(
            repositoryName="ecr-e2e/nowhere", imageManifest=image.manifest.data.decode()
        )


# --------------------------------------------------------------------------- BatchDeleteImage


def test_batch_delete_tags_then_image(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    x = small_image("del-x")
    push_v2(v2_a, repo, x, "a", "b")
    answer = ecr_a.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "a"}])
    assert answer["imageIds"] == [{"imageDigest": x.digest, "imageTag": "a"}]
    assert answer["failures"] == []
    assert tags_of(ecr_a, repo, x.digest) == ["b"]

    # Removing the last tag removes the image.
    answer = ecr_a.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "b"}])
    assert answer["imageIds"] == [{"imageDigest": x.digest, "imageTag": "b"}]
    assert answer["failures"] == []
    assert ecr_a.describe_images(repositoryName=repo)["imageDetails"] == []
    gone = v2_a.get(ociapi.manifest_url(repo, x.digest), headers={"Accept": ociapi.MANIFEST_ACCEPT})
    assert gone.status_code == 404, ociapi.describe(gone)


def test_batch_delete_by_digest_removes_all_tags(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    x, keep = small_image("del-digest"), small_image("del-keep")
    push_v2(v2_a, repo, x, "c", "d")
    push_v2(v2_a, repo, keep, "keep")
    answer = ecr_a.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": x.digest}])
    assert answer["failures"] == []
    assert answer["imageIds"], answer
    assert {e["imageDigest"] for e in answer["imageIds"]} == {x.digest}
    assert entries(ecr_a.list_images(repositoryName=repo)["imageIds"]) == {(keep.digest, "keep")}
    for tag in ("c", "d"):
        gone = v2_a.get(ociapi.manifest_url(repo, tag), headers={"Accept": ociapi.MANIFEST_ACCEPT})
        assert gone.status_code == 404, ociapi.describe(gone)


def test_batch_delete_failures(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    x, y = small_image("del-fail-x"), small_image("del-fail-y")
    push_v2(v2_a, repo, x, "x")
    push_v2(v2_a, repo, y, "y")
    answer = ecr_a.batch_delete_image(
        repositoryName=repo,
        imageIds=[
            {"imageTag": "nope"},
            {},
            {"imageDigest": "sha256:not-hex"},
            {"imageTag": "x", "imageDigest": y.digest},
        ],
    )
    assert answer["imageIds"] == []
    codes = {
        (f["imageId"].get("imageTag"), f["imageId"].get("imageDigest")): f["failureCode"]
        for f in answer["failures"]
    }
    assert codes == {
        ("nope", None): "ImageNotFound",
        (None, None): "MissingDigestAndTag",
        (None, "sha256:not-hex"): "InvalidImageDigest",
        ("x", y.digest): "ImageTagDoesNotMatchDigest",
    }, answer["failures"]
    reason = next(f for f in answer["failures"] if f["imageId"].get("imageTag") == "nope")
    assert reason["failureReason"] == "Requested image not found"
    assert tags_of(ecr_a, repo, x.digest) == ["x"]
    assert tags_of(ecr_a, repo, y.digest) == ["y"]


def test_batch_delete_child_of_index_is_refused(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    children = [
        small_image("del-idx-a", platform=Platform("amd64")),
        small_image("del-idx-b", platform=Platform("arm64")),
    ]
    index = build_index(children)
    push_v2(v2_a, repo, index, "multi")
    answer = ecr_a.batch_delete_image(
        repositoryName=repo, imageIds=[{"imageDigest": children[0].digest}]
    )
    assert answer["imageIds"] == []
    assert [(f["imageId"]["imageDigest"], f["failureCode"]) for f in answer["failures"]] == [
        (children[0].digest, "ImageReferencedByManifestList")
    ]
    assert exists(ecr_a, repo, children[0].digest)

    # Once the index is gone its children may go.
    ecr_a.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "multi"}])
    answer = ecr_a.batch_delete_image(
        repositoryName=repo, imageIds=[{"imageDigest": children[0].digest}]
    )
    assert answer["failures"] == []
    assert not exists(ecr_a, repo, children[0].digest)


# --------------------------------------------------------------------------- ListImageReferrers


def test_list_image_referrers(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    subject = small_image("referred")
    push_v2(v2_a, repo, subject, "app")
    sbom = build_artifact(
        {"sbom.json": b'{"spdxVersion":"SPDX-2.3"}'},
        artifact_type="application/spdx+json",
        subject=subject,
        annotations={"org.opencontainers.image.created": "2000-01-01T00:00:00Z"},
    )
    signature = build_artifact(
        {"sig": b"signature-bytes"},
        artifact_type="application/vnd.dev.cosign.artifact.sig.v1+json",
        subject=subject,
    )
    unrelated = build_artifact({"x": b"x"}, artifact_type="application/spdx+json")
    for artifact in (sbom, signature, unrelated):
        push_v2(v2_a, repo, artifact)

    answer = ecr_a.list_image_referrers(
        repositoryName=repo, subjectId={"imageDigest": subject.digest}
    )
    assert "nextToken" not in answer
    referrers = {r["digest"]: r for r in answer["referrers"]}
    assert set(referrers) == {sbom.digest, signature.digest}
    assert referrers[sbom.digest] == {
        "digest": sbom.digest,
        "mediaType": MediaTypes.OCI_MANIFEST,
        "artifactType": "application/spdx+json",
        "size": sbom.manifest.size,
        "annotations": {"org.opencontainers.image.created": "2000-01-01T00:00:00Z"},
        "artifactStatus": "ACTIVE",
    }
    assert referrers[signature.digest]["size"] == signature.manifest.size
    assert (
        referrers[signature.digest]["artifactType"]
        == "application/vnd.dev.cosign.artifact.sig.v1+json"
    )

    filtered = ecr_a.list_image_referrers(
        repositoryName=repo,
        subjectId={"imageDigest": subject.digest},
        filter={"artifactTypes": ["application/spdx+json"]},
    )["referrers"]
    assert [r["digest"] for r in filtered] == [sbom.digest]

    none = ecr_a.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": NO_DIGEST})
    assert none["referrers"] == []

    # The OCI referrers API lists the same manifests.
    response = v2_a.get(f"/v2/{repo}/referrers/{subject.digest}")
    assert response.status_code == 200, ociapi.describe(response)
    assert {m["digest"] for m in response.json()["manifests"]} == {sbom.digest, signature.digest}

    with ecr_error("RepositoryNotFoundException"):
        ecr_a.list_image_referrers(
            repositoryName="ecr-e2e/nope", subjectId={"imageDigest": subject.digest}
        )


# --------------------------------------------------------------------------- UpdateImageStorageClass


def test_archive_and_restore(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    image, other = small_image("archive-me"), small_image("archive-other")
    push_v2(v2_a, repo, image, "keep")
    push_v2(v2_a, repo, other, "other")

    before = time.time()
    answer = ecr_a.update_image_storage_class(
        repositoryName=repo, imageId={"imageTag": "keep"}, targetStorageClass="ARCHIVE"
    )
    assert answer["registryId"] == ACCOUNT_A
    assert answer["repositoryName"] == repo
    assert answer["imageId"]["imageDigest"] == image.digest
    assert answer["imageStatus"] == "ARCHIVED"

    # DescribeImages shows active images only, unless asked for more.
    listed = ecr_a.describe_images(repositoryName=repo)["imageDetails"]
    assert [d["imageDigest"] for d in listed] == [other.digest]

    everything = {
        d["imageDigest"]: d
        for d in ecr_a.describe_images(repositoryName=repo, filter={"imageStatus": "ANY"})[
            "imageDetails"
        ]
    }
    assert set(everything) == {image.digest, other.digest}
    archived = everything[image.digest]
    assert archived["imageStatus"] == "ARCHIVED"
    assert archived["imageTags"] == ["keep"]
    assert before - 1 <= archived["lastArchivedAt"].timestamp() <= time.time() + 1
    only_archived = ecr_a.describe_images(repositoryName=repo, filter={"imageStatus": "ARCHIVED"})
    assert [d["imageDigest"] for d in only_archived["imageDetails"]] == [image.digest]

    # Not pullable.
    for reference in ("keep", image.digest):
        response = v2_a.get(
            ociapi.manifest_url(repo, reference), headers={"Accept": ociapi.MANIFEST_ACCEPT}
        )
        assert response.status_code == 404, ociapi.describe(response)
    batch = ecr_a.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "keep"}])
    assert batch["images"] == []
    assert [f["failureCode"] for f in batch["failures"]] == ["ImageInaccessible"]

    # Restore.
    restored_at = time.time()
    answer = ecr_a.update_image_storage_class(
        repositoryName=repo, imageId={"imageDigest": image.digest}, targetStorageClass="STANDARD"
    )
    assert answer["imageStatus"] in {"ACTIVE", "ACTIVATING"}

    def status() -> dict[str, Any]:
        (detail,) = ecr_a.describe_images(
            repositoryName=repo,
            imageIds=[{"imageDigest": image.digest}],
            filter={"imageStatus": "ANY"},
        )["imageDetails"]
        return detail

    assert status()["imageStatus"] in {"ACTIVE", "ACTIVATING"}
    detail = wait_for(lambda: (d := status())["imageStatus"] == "ACTIVE" and d, timeout=10)
    assert detail, f"still {status()['imageStatus']} after 10 s"
    assert restored_at - 1 <= detail["lastActivatedAt"].timestamp() <= time.time() + 1
    assert detail["lastArchivedAt"] == archived["lastArchivedAt"]
    ociapi.fetch_manifest(v2_a, repo, "keep")


def test_list_images_hides_archived_images_by_default(
    ecr_a: Any, v2_a: httpx.Client, repo: str
) -> None:
    """ListImagesFilter.imageStatus: "If not specified, only images with ACTIVE status"."""
    image, other = small_image("list-archived"), small_image("list-active")
    push_v2(v2_a, repo, image, "keep")
    push_v2(v2_a, repo, other, "other")
    ecr_a.update_image_storage_class(
        repositoryName=repo, imageId={"imageTag": "keep"}, targetStorageClass="ARCHIVE"
    )
    assert entries(ecr_a.list_images(repositoryName=repo)["imageIds"]) == {(other.digest, "other")}
    archived = ecr_a.list_images(repositoryName=repo, filter={"imageStatus": "ARCHIVED"})
    assert entries(archived["imageIds"]) == {(image.digest, "keep")}
    everything = ecr_a.list_images(repositoryName=repo, filter={"imageStatus": "ANY"})
    assert entries(everything["imageIds"]) == {(image.digest, "keep"), (other.digest, "other")}


def test_update_storage_class_errors(ecr_a: Any, repo: str) -> None:
    with ecr_error("ImageNotFoundException"):
        ecr_a.update_image_storage_class(
            repositoryName=repo, imageId={"imageTag": "nope"}, targetStorageClass="ARCHIVE"
        )
    with ecr_error("RepositoryNotFoundException"):
        ecr_a.update_image_storage_class(
            repositoryName="ecr-e2e/nope", imageId={"imageTag": "x"}, targetStorageClass="ARCHIVE"
        )
    with ecr_error("InvalidParameterException"):
        ecr_a.update_image_storage_class(
            repositoryName=repo, imageId={"imageTag": "x"}, targetStorageClass="GLACIER"
        )


# ---------------------------------------------------------- BatchGetImage: acceptedMediaTypes


@pytest.mark.parametrize("flavor", ["docker", "oci"])
def test_batch_get_image_converts_by_tag_for_accepted_media_types(
    ecr_a: Any, v2_a: httpx.Client, repo: str, flavor: str
) -> None:
    """By tag, the stored format is converted to the accepted one (ECR's §9.4 table), with the
    digest of the converted bytes; by digest, it is never converted."""
    stored = small_image(f"bgi-accept-{flavor}", flavor=flavor, layers=2)
    push_v2(v2_a, repo, stored, "t")
    wanted = MediaTypes.OCI_MANIFEST if flavor == "docker" else MediaTypes.DOCKER_MANIFEST
    answer = ecr_a.batch_get_image(
        repositoryName=repo,
        acceptedMediaTypes=[wanted],
        imageIds=[{"imageTag": "t"}, {"imageDigest": stored.digest}],
    )
    assert answer["failures"] == []
    by_tag, by_digest = answer["images"]
    converted = by_tag["imageManifest"].encode()
    assert by_tag["imageManifestMediaType"] == wanted
    assert by_tag["imageId"] == {"imageTag": "t", "imageDigest": ociapi.sha256_digest(converted)}
    document = json.loads(converted)
    assert document["mediaType"] == wanted
    assert [layer["digest"] for layer in document["layers"]] == [
        layer.digest for layer in stored.layers
    ]
    assert by_digest["imageManifest"].encode() == stored.manifest.data
    assert by_digest["imageManifestMediaType"] == stored.manifest.media_type
    v2 = v2_a.get(f"/v2/{repo}/manifests/t", headers={"Accept": wanted})
    assert v2.content == converted  # both protocols serve the same conversion


def test_batch_get_image_refuses_what_cannot_be_converted(
    ecr_a: Any, v2_a: httpx.Client, repo: str
) -> None:
    stored = small_image("bgi-accept-none")
    push_v2(v2_a, repo, stored, "t")
    answer = ecr_a.batch_get_image(
        repositoryName=repo,
        imageIds=[{"imageTag": "t"}],
        acceptedMediaTypes=["application/vnd.docker.distribution.manifest.v1+json"],
    )
    assert answer["images"] == []
    assert [f["failureCode"] for f in answer["failures"]] == ["ImageNotFound"]


# ---------------------------------------------------------------- Docker schema 1 through ECR


def test_schema1_put_image_describe_and_get_back(ecr_a: Any, repo: str) -> None:
    """A signed schema 1 manifest (the media type given, as it names none itself): size is the
    sum of its distinct blobs as stored; DescribeImages names its media type; BatchGetImage
    returns its JWS text unchanged under the digest of its signed payload."""
    one, two = b"schema1 layer" * 100, b"second layer"
    digests = [upload_layer_ecr(ecr_a, repo, data) for data in (one, two)]
    unsigned = schema1.payload(repo, "old", [digests[0], digests[1], digests[0]])
    body = schema1.signed(unsigned).decode()
    put = ecr_a.put_image(
        repositoryName=repo,
        imageManifest=body,
        imageTag="old",
        imageManifestMediaType=schema1.SIGNED,
    )
    assert put["image"]["imageId"] == {"imageTag": "old", "imageDigest": schema1.digest(unsigned)}
    detail = ecr_a.describe_images(repositoryName=repo, imageIds=[{"imageTag": "old"}])
    (image,) = detail["imageDetails"]
    assert image["imageManifestMediaType"] == schema1.SIGNED
    assert image["imageSizeInBytes"] == len(one) + len(two)
    got = ecr_a.batch_get_image(
        repositoryName=repo,
        imageIds=[{"imageTag": "old"}],
        acceptedMediaTypes=[schema1.SIGNED, schema1.UNSIGNED],
    )
    assert got["images"][0]["imageManifest"] == body
    refused = ecr_a.batch_get_image(
        repositoryName=repo,
        imageIds=[{"imageTag": "old"}],
        acceptedMediaTypes=[MediaTypes.DOCKER_MANIFEST],
    )
    assert [f["failureCode"] for f in refused["failures"]] == ["ImageNotFound"]
