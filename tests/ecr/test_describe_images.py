"""DescribeImages end to end: every ImageDetail field, paging, filters, lookups, errors.

Images are pushed through `/v2/` with a registry token (as docker or skopeo would) and then
described through boto3, so each field is checked against bytes the test itself built:
`imageDigest` is the sha256 of the manifest bytes, `imageSizeInBytes` the config size plus the
compressed layer sizes (the max over children for an index), and so on (spec sections 5 and 6).
"""

from __future__ import annotations

import gzip
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.ecr.conftest import ACCOUNT_A
from tests.support import ociapi
from tests.support.ecr import (
    ecr_error,
    image_size,
    push_many_v2,
    push_v2,
    small_image,
    variants,
    wait_for,
)
from tests.support.images import (
    Blob,
    Image,
    MediaTypes,
    Platform,
    build_artifact,
    build_image,
    build_index,
    canonical_json,
    pseudo_random_bytes,
)

pytestmark = pytest.mark.e2e

MAX_RESULTS_MESSAGE = (
    "Invalid parameter at 'maxResults' failed to satisfy constraint: "
    "'Member must have value less than or equal to 1000'"
)
NO_DIGEST = "sha256:" + "0" * 64


def details(client: Any, repo: str, **kwargs: Any) -> list[dict[str, Any]]:
    return client.describe_images(repositoryName=repo, **kwargs)["imageDetails"]


def by_digest(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    digests = [d["imageDigest"] for d in found]
    assert len(digests) == len(set(digests)), f"duplicate digests: {digests}"
    return {d["imageDigest"]: d for d in found}


def only(found: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(found) == 1, found
    return found[0]


def image_not_found(repo: str, digest: str = "null", tag: str = "null") -> str:
    return (
        f"The image with imageId {{imageDigest:'{digest}', imageTag:'{tag}'}} does not exist "
        f"within the repository with name '{repo}' in the registry with id '{ACCOUNT_A}'"
    )


def random_image(seed: str, size: int, platform: Platform, flavor: str = "oci") -> Image:
    """An image whose one layer is ``size`` incompressible bytes (sizes that really differ)."""
    layers = [{f"blob/{seed}": pseudo_random_bytes(size, seed)}]
    return build_image(layers, platform=platform, flavor=flavor)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- fields


def test_image_detail_field_by_field(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    image = small_image("fields", layers=3)
    before = time.time()
    push_v2(v2_a, repo, image, "v1", "latest")
    after = time.time()

    detail = only(details(ecr_a, repo))
    assert set(detail) == {
        "registryId",
        "repositoryName",
        "imageDigest",
        "imageTags",
        "imageSizeInBytes",
        "imagePushedAt",
        "imageManifestMediaType",
        "artifactMediaType",
        "imageStatus",
    }, detail
    assert detail["registryId"] == ACCOUNT_A
    assert detail["repositoryName"] == repo
    assert detail["imageDigest"] == ociapi.sha256_digest(image.manifest.data)
    assert sorted(detail["imageTags"]) == ["latest", "v1"]
    assert len(detail["imageTags"]) == 2
    assert detail["imageSizeInBytes"] == image.config.size + sum(x.size for x in image.layers)
    assert before - 1.0 <= detail["imagePushedAt"].timestamp() <= after + 1.0
    assert detail["imageManifestMediaType"] == MediaTypes.OCI_MANIFEST
    assert detail["artifactMediaType"] == MediaTypes.OCI_CONFIG
    assert detail["imageStatus"] == "ACTIVE"

    # Lookup mode gives the same detail, with every tag whichever one was asked for.
    assert only(details(ecr_a, repo, imageIds=[{"imageTag": "v1"}])) == detail
    assert only(details(ecr_a, repo, imageIds=[{"imageDigest": image.digest}])) == detail


def test_docker_image_media_types(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    image = small_image("docker-fields", layers=2, flavor="docker")
    push_v2(v2_a, repo, image, "d1")
    detail = only(details(ecr_a, repo))
    assert detail["imageDigest"] == image.digest
    assert detail["imageManifestMediaType"] == MediaTypes.DOCKER_MANIFEST
    assert detail["artifactMediaType"] == MediaTypes.DOCKER_CONFIG
    assert detail["imageSizeInBytes"] == image_size(image)
    assert detail["imageTags"] == ["d1"]


@pytest.mark.parametrize("flavor", ["oci", "docker"])
def test_index_size_is_the_largest_child(
    ecr_a: Any, v2_a: httpx.Client, repo: str, flavor: str
) -> None:
    children = [
        random_image(f"{flavor}-amd64", 3000, Platform("amd64"), flavor),
        random_image(f"{flavor}-arm64", 9000, Platform("arm64", variant="v8"), flavor),
        random_image(f"{flavor}-arm", 5000, Platform("arm", variant="v7"), flavor),
    ]
    index = build_index(children, flavor=flavor)  # type: ignore[arg-type]
    push_v2(v2_a, repo, index, "multi")

    found = by_digest(details(ecr_a, repo))
    assert set(found) == {index.digest, *(c.digest for c in children)}
    top = found[index.digest]
    assert top["imageSizeInBytes"] == max(image_size(c) for c in children)
    assert top["imageSizeInBytes"] == image_size(children[1])
    assert top["imageTags"] == ["multi"]
    expected_type = MediaTypes.OCI_INDEX if flavor == "oci" else MediaTypes.DOCKER_LIST
    assert top["imageManifestMediaType"] == expected_type
    assert "artifactMediaType" not in top
    for child in children:
        detail = found[child.digest]
        assert detail["imageSizeInBytes"] == image_size(child)
        assert "imageTags" not in detail, detail
        assert detail["imageStatus"] == "ACTIVE"


def test_referrer_has_subject_and_artifact_type(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    subject = small_image("subject")
    push_v2(v2_a, repo, subject, "app")
    sbom = build_artifact(
        {"sbom.spdx.json": b'{"spdxVersion":"SPDX-2.3"}'},
        artifact_type="application/spdx+json",
        subject=subject,
    )
    push_v2(v2_a, repo, sbom)

    found = by_digest(details(ecr_a, repo))
    detail = found[sbom.digest]
    assert detail["subjectManifestDigest"] == subject.digest
    assert detail["artifactMediaType"] == "application/spdx+json"
    assert detail["imageManifestMediaType"] == MediaTypes.OCI_MANIFEST
    assert detail["imageSizeInBytes"] == image_size(sbom)
    assert "imageTags" not in detail
    assert "subjectManifestDigest" not in found[subject.digest]


def test_artifact_without_artifact_type_reports_config_media_type(
    ecr_a: Any, v2_a: httpx.Client, repo: str
) -> None:
    config = Blob("application/vnd.cncf.helm.config.v1+json", b'{"name":"chart","version":"1.0.0"}')
    chart = Blob(
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip", gzip.compress(b"chart", mtime=0)
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": MediaTypes.OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [chart.descriptor()],
    }
    helm = Image(Blob(MediaTypes.OCI_MANIFEST, canonical_json(manifest)), config, (chart,))
    push_v2(v2_a, repo, helm, "1.0.0")
    detail = only(details(ecr_a, repo))
    assert detail["artifactMediaType"] == "application/vnd.cncf.helm.config.v1+json"
    assert detail["imageSizeInBytes"] == config.size + chart.size


def test_untagged_image_has_no_image_tags_member(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    image = small_image("untagged")
    push_v2(v2_a, repo, image)
    detail = only(details(ecr_a, repo))
    assert detail["imageDigest"] == image.digest
    assert "imageTags" not in detail, detail


# --------------------------------------------------------------------------- pull times


def pull_time(client: Any, repo: str, digest: str) -> float | None:
    detail = only(details(client, repo, imageIds=[{"imageDigest": digest}]))
    value = detail.get("lastRecordedPullTime")
    return value.timestamp() if value else None


def test_last_recorded_pull_time_follows_manifest_gets(
    ecr_a: Any, v2_a: httpx.Client, repo: str
) -> None:
    by_get, by_batch = small_image("pull-get"), small_image("pull-batch")
    push_v2(v2_a, repo, by_get, "get")
    push_v2(v2_a, repo, by_batch, "batch")
    assert pull_time(ecr_a, repo, by_get.digest) is None
    assert pull_time(ecr_a, repo, by_batch.digest) is None

    # Not pulls: HEAD of a manifest, blob GETs, listing and describing.
    head = v2_a.head(ociapi.manifest_url(repo, "get"), headers={"Accept": ociapi.MANIFEST_ACCEPT})
    assert head.status_code == 200, ociapi.describe(head)
    ociapi.fetch_blob(v2_a, repo, by_get.layers[0].digest)
    ecr_a.list_images(repositoryName=repo)
    time.sleep(2.0)
    assert pull_time(ecr_a, repo, by_get.digest) is None

    pulled_at = time.time()
    ociapi.fetch_manifest(v2_a, repo, "get")
    recorded = wait_for(lambda: pull_time(ecr_a, repo, by_get.digest), timeout=3.0)
    assert recorded is not None, "a manifest GET did not set lastRecordedPullTime within 3 s"
    assert pulled_at - 1.0 <= recorded <= time.time() + 1.0
    assert pull_time(ecr_a, repo, by_batch.digest) is None

    pulled_at = time.time()
    answer = ecr_a.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "batch"}])
    assert [i["imageId"]["imageDigest"] for i in answer["images"]] == [by_batch.digest]
    recorded = wait_for(lambda: pull_time(ecr_a, repo, by_batch.digest), timeout=3.0)
    assert recorded is not None, "BatchGetImage did not set lastRecordedPullTime within 3 s"
    assert pulled_at - 1.0 <= recorded <= time.time() + 1.0


# --------------------------------------------------------------------------- paging


@pytest.fixture(scope="module")
def repo_150(ecr_a: Any, v2_a: httpx.Client) -> tuple[str, list[Image]]:
    """A repository of 150 untagged images sharing one layer and config."""
    name = f"ecr-e2e/paging-150-{time.time_ns()}"
    ecr_a.create_repository(repositoryName=name)
    return name, push_many_v2(v2_a, name, variants("p150", 150))


@pytest.fixture(scope="module")
def repo_10(ecr_a: Any, v2_a: httpx.Client) -> tuple[str, list[Image]]:
    name = f"ecr-e2e/paging-10-{time.time_ns()}"
    ecr_a.create_repository(repositoryName=name)
    return name, push_many_v2(v2_a, name, variants("p10", 10))


def test_paginator_page_size_3(ecr_a: Any, repo_10: tuple[str, list[Image]]) -> None:
    name, images = repo_10
    pages = list(
        ecr_a.get_paginator("describe_images").paginate(
            repositoryName=name, PaginationConfig={"PageSize": 3}
        )
    )
    assert [len(p["imageDetails"]) for p in pages] == [3, 3, 3, 1]
    seen = [d["imageDigest"] for p in pages for d in p["imageDetails"]]
    assert Counter(seen) == Counter(i.digest for i in images)


def test_default_page_is_100(ecr_a: Any, repo_150: tuple[str, list[Image]]) -> None:
    name, images = repo_150
    first = ecr_a.describe_images(repositoryName=name)
    assert len(first["imageDetails"]) == 100
    assert first.get("nextToken")
    second = ecr_a.describe_images(repositoryName=name, nextToken=first["nextToken"])
    assert len(second["imageDetails"]) == 50
    assert "nextToken" not in second
    seen = [d["imageDigest"] for d in first["imageDetails"] + second["imageDetails"]]
    assert Counter(seen) == Counter(i.digest for i in images)

    everything = ecr_a.describe_images(repositoryName=name, maxResults=1000)
    assert len(everything["imageDetails"]) == 150
    assert "nextToken" not in everything


def test_max_results_above_1000_is_invalid(ecr_a: Any, repo_10: tuple[str, list[Image]]) -> None:
    with ecr_error("InvalidParameterException", MAX_RESULTS_MESSAGE):
        ecr_a.describe_images(repositoryName=repo_10[0], maxResults=1001)


def tamper(token: str) -> str:
    middle = len(token) // 2
    replacement = "A" if token[middle] != "A" else "B"
    return token[:middle] + replacement + token[middle + 1 :]


def test_tampered_or_garbage_token_is_invalid(
    ecr_a: Any, repo_150: tuple[str, list[Image]]
) -> None:
    name = repo_150[0]
    token = ecr_a.describe_images(repositoryName=name, maxResults=2)["nextToken"]
    for bad in (tamper(token), token[:-4], token + "xx", "not-a-token", "e30"):
        with ecr_error("InvalidParameterException"):
            ecr_a.describe_images(repositoryName=name, nextToken=bad, maxResults=2)


def test_token_from_elsewhere_is_invalid(
    ecr_a: Any,
    ecr_b: Any,
    v2_b: httpx.Client,
    repo_150: tuple[str, list[Image]],
    repo_10: tuple[str, list[Image]],
) -> None:
    name_150, name_10 = repo_150[0], repo_10[0]
    token = ecr_a.describe_images(repositoryName=name_150, maxResults=2)["nextToken"]
    with ecr_error("InvalidParameterException"):  # another repository
        ecr_a.describe_images(repositoryName=name_10, nextToken=token, maxResults=2)
    with ecr_error("InvalidParameterException"):  # another filter
        ecr_a.describe_images(
            repositoryName=name_150, nextToken=token, maxResults=2, filter={"tagStatus": "UNTAGGED"}
        )
    with ecr_error("InvalidParameterException"):  # another operation
        ecr_a.list_images(repositoryName=name_150, nextToken=token, maxResults=2)

    # Account B's repository of the same name: its token is no good in account A.
    ecr_b.create_repository(repositoryName=name_150)
    push_many_v2(v2_b, name_150, variants("b-side", 3))
    foreign = ecr_b.describe_images(repositoryName=name_150, maxResults=1)["nextToken"]
    with ecr_error("InvalidParameterException"):
        ecr_a.describe_images(repositoryName=name_150, nextToken=foreign, maxResults=1)


@pytest.mark.parametrize("operation", ["describe_images", "list_images"])
def test_paging_is_stable_while_images_come_and_go(
    ecr_a: Any, v2_a: httpx.Client, repo: str, operation: str
) -> None:
    """Images present for the whole listing appear exactly once, whatever happens between pages.

    The doomed images are interleaved at the front and deleted after being listed, so an
    offset-based pager would skip live images; new images are pushed between pages too.
    """
    doomed = variants(f"doomed-{operation}", 4)
    kept = variants(f"kept-{operation}", 12)
    order = [img for pair in zip(doomed, kept[:4], strict=True) for img in pair] + kept[4:]
    push_many_v2(v2_a, repo, order)
    fresh = variants(f"fresh-{operation}", 10)
    batches = [fresh[i : i + 2] for i in range(0, len(fresh), 2)]
    result_key = "imageDetails" if operation == "describe_images" else "imageIds"

    seen: list[str] = []
    token = None
    for _ in range(60):
        page = getattr(ecr_a, operation)(
            repositoryName=repo, maxResults=3, **({"nextToken": token} if token else {})
        )
        seen += [item["imageDigest"] for item in page[result_key]]
        token = page.get("nextToken")
        if not token:
            break
        if batches:
            push_many_v2(v2_a, repo, batches.pop(0))
        if doomed:
            victim = doomed.pop(0)
            deleted = ecr_a.batch_delete_image(
                repositoryName=repo, imageIds=[{"imageDigest": victim.digest}]
            )
            assert deleted["failures"] == [], deleted
    else:
        pytest.fail("paging did not end within 60 pages")

    counts = Counter(seen)
    assert [d for d, n in counts.items() if n > 1] == [], "listed more than once"
    missing = [i.digest for i in kept if counts[i.digest] != 1]
    assert missing == [], f"{len(missing)} images that existed throughout were skipped"
    known = {i.digest for i in (*variants(f"doomed-{operation}", 4), *kept, *fresh)}
    assert set(seen) <= known


# --------------------------------------------------------------------------- filters


@pytest.fixture
def mixed_repo(ecr_a: Any, v2_a: httpx.Client, repo: str) -> tuple[str, dict[str, Image]]:
    """Two tagged images (one with two tags) and two untagged ones."""
    images = {name: small_image(f"mixed-{repo}-{name}") for name in ("t1", "t2", "u1", "u2")}
    push_v2(v2_a, repo, images["t1"], "one", "uno")
    push_v2(v2_a, repo, images["t2"], "two")
    push_v2(v2_a, repo, images["u1"])
    push_v2(v2_a, repo, images["u2"])
    return repo, images


@pytest.mark.parametrize(
    "tag_status, expected",
    [
        ("TAGGED", {"t1", "t2"}),
        ("UNTAGGED", {"u1", "u2"}),
        ("ANY", {"t1", "t2", "u1", "u2"}),
        (None, {"t1", "t2", "u1", "u2"}),
    ],
)
def test_filter_tag_status(
    ecr_a: Any, mixed_repo: tuple[str, dict[str, Image]], tag_status: str | None, expected: set[str]
) -> None:
    name, images = mixed_repo
    kwargs = {"filter": {"tagStatus": tag_status}} if tag_status else {}
    found = by_digest(details(ecr_a, name, **kwargs))
    assert set(found) == {images[key].digest for key in expected}
    for detail in found.values():
        assert ("imageTags" in detail) == (
            detail["imageDigest"] in {images["t1"].digest, images["t2"].digest}
        )


def test_unknown_filter_value_is_invalid(ecr_a: Any, repo: str) -> None:
    with ecr_error("InvalidParameterException"):
        details(ecr_a, repo, filter={"tagStatus": "SOMETIMES"})
    with ecr_error("InvalidParameterException"):
        details(ecr_a, repo, filter={"imageStatus": "FROZEN"})


# --------------------------------------------------------------------------- lookups


def test_lookup_by_tag_digest_and_both(
    ecr_a: Any, mixed_repo: tuple[str, dict[str, Image]]
) -> None:
    name, images = mixed_repo
    t1, u1 = images["t1"], images["u1"]
    by_tag = only(details(ecr_a, name, imageIds=[{"imageTag": "uno"}]))
    assert by_tag["imageDigest"] == t1.digest
    assert sorted(by_tag["imageTags"]) == ["one", "uno"]
    assert (
        only(details(ecr_a, name, imageIds=[{"imageDigest": u1.digest}]))["imageDigest"]
        == u1.digest
    )
    both = details(ecr_a, name, imageIds=[{"imageTag": "one", "imageDigest": t1.digest}])
    assert only(both) == by_tag
    # Two identifiers of one image describe it once.
    assert only(details(ecr_a, name, imageIds=[{"imageTag": "one"}, {"imageTag": "uno"}])) == by_tag
    several = by_digest(
        details(ecr_a, name, imageIds=[{"imageTag": "two"}, {"imageDigest": u1.digest}])
    )
    assert set(several) == {images["t2"].digest, u1.digest}


def test_lookup_of_missing_image_fails_whole_call(
    ecr_a: Any, mixed_repo: tuple[str, dict[str, Image]]
) -> None:
    name, images = mixed_repo
    with ecr_error("ImageNotFoundException", image_not_found(name, tag="nope")):
        details(ecr_a, name, imageIds=[{"imageTag": "one"}, {"imageTag": "nope"}])
    with ecr_error("ImageNotFoundException", image_not_found(name, digest=NO_DIGEST)):
        details(ecr_a, name, imageIds=[{"imageDigest": NO_DIGEST}])
    with ecr_error("ImageNotFoundException"):  # tag and digest of different images
        details(ecr_a, name, imageIds=[{"imageTag": "one", "imageDigest": images["t2"].digest}])


def test_lookup_rejects_paging_parameters(
    ecr_a: Any, mixed_repo: tuple[str, dict[str, Image]]
) -> None:
    name = mixed_repo[0]
    with ecr_error("InvalidParameterException"):
        details(ecr_a, name, imageIds=[{"imageTag": "one"}], maxResults=10)
    token = ecr_a.describe_images(repositoryName=name, maxResults=1)["nextToken"]
    with ecr_error("InvalidParameterException"):
        details(ecr_a, name, imageIds=[{"imageTag": "one"}], nextToken=token)
    with ecr_error("InvalidParameterException"):
        details(ecr_a, name, imageIds=[{}])


def test_unknown_repository(ecr_a: Any) -> None:
    message = (
        "The repository with name 'ecr-e2e/no-such-repo' does not exist in the registry "
        f"with id '{ACCOUNT_A}'"
    )
    with ecr_error("RepositoryNotFoundException", message):
        details(ecr_a, "ecr-e2e/no-such-repo")
    with ecr_error("RepositoryNotFoundException", message):
        details(ecr_a, "ecr-e2e/no-such-repo", imageIds=[{"imageTag": "x"}])


def test_push_to_repository_never_created_is_name_unknown(
    ecr_a: Any, v2_a: httpx.Client, new_repo: Callable[..., str]
) -> None:
    """Started without --create-on-push: `/v2/` pushes need CreateRepository first."""
    name = "ecr-e2e/never-created-" + str(time.time_ns())
    response = v2_a.post(ociapi.upload_url(name))
    assert response.status_code == 404, ociapi.describe(response)
    error = response.json()["errors"][0]
    assert error["code"] == "NAME_UNKNOWN"
    assert error["message"] == (
        f"The repository with name '{name}' does not exist in the registry with id '{ACCOUNT_A}'"
    )
    image = small_image("never")
    manifest = v2_a.put(
        ociapi.manifest_url(name, "v1"),
        content=image.manifest.data,
        headers={"Content-Type": image.manifest.media_type},
    )
    assert manifest.status_code == 404, ociapi.describe(manifest)
    assert manifest.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    with ecr_error("RepositoryNotFoundException"):
        ecr_a.describe_repositories(repositoryNames=[name])
