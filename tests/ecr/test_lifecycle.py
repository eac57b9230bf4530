"""Lifecycle policies end to end: boto3 against `dockyard serve`, and `dockyard lifecycle run`
(with `--now`) against the same server's data while it runs.

The server's schedule is daily (the default), so nothing here is evaluated behind a test's
back: policies act only when a test runs the command.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.ecr.conftest import ACCOUNT_A
from tests.support import ociapi
from tests.support.ecr import ecr_error, push_v2, small_image, wait_for
from tests.support.images import build_artifact
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e

DAY = 86400.0


def lifecycle_policy(*rules: dict[str, Any]) -> str:
    return json.dumps({"rules": list(rules)})


def rule(priority: int, action: str = "expire", **selection: Any) -> dict[str, Any]:
    act = {"type": action}
    if action == "transition":
        act["targetStorageClass"] = "archive"
    return {
        "rulePriority": priority,
        "description": f"rule {priority}",
        "selection": selection,
        "action": act,
    }


KEEP_TWO_TAGGED = rule(
    1, tagStatus="tagged", tagPrefixList=["v"], countType="imageCountMoreThan", countNumber=2
)
KEEP_ONE_UNTAGGED = rule(2, tagStatus="untagged", countType="imageCountMoreThan", countNumber=1)


def run_lifecycle(server: DockyardServer, now: float | None = None) -> str:
    """`dockyard lifecycle run` on the server's data; its standard output."""
    command = [sys.executable, "-m", "dockyard", "lifecycle", "run", *server.store_args]
    if now is not None:
        command += ["--now", datetime.fromtimestamp(now, UTC).isoformat()]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=server.environment()
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def digests(ecr: Any, repo: str, status: str = "ANY") -> set[str]:
    details = ecr.describe_images(repositoryName=repo, filter={"imageStatus": status})
    return {d["imageDigest"] for d in details["imageDetails"]}


def detail(ecr: Any, repo: str, digest: str) -> dict[str, Any]:
    (found,) = ecr.describe_images(
        repositoryName=repo, imageIds=[{"imageDigest": digest}], filter={"imageStatus": "ANY"}
    )["imageDetails"]
    return found


def preview(ecr: Any, repo: str, **start: Any) -> dict[str, Any]:
    ecr.start_lifecycle_policy_preview(repositoryName=repo, **start)
    ecr.get_waiter("lifecycle_policy_preview_complete").wait(
        repositoryName=repo, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    return ecr.get_lifecycle_policy_preview(repositoryName=repo)


def push_series(v2: httpx.Client, repo: str, seed: str) -> dict[str, str]:
    """v1..v4 tagged (v1 oldest), two untagged, pushed in order: name -> digest."""
    pushed = {}
    for name in ("v1", "v2", "v3", "v4", "u1", "u2"):
        image = small_image(f"{seed}-{name}")
        push_v2(v2, repo, image, *([name] if name.startswith("v") else []))
        pushed[name] = image.digest
    return pushed


# -- the policy ----------------------------------------------------------------------------------


def test_put_get_delete(ecr_a: Any, repo: str) -> None:
    message = (
        f"Lifecycle policy does not exist for the repository with name '{repo}' in the "
        f"registry with id '{ACCOUNT_A}'"
    )
    with ecr_error("LifecyclePolicyNotFoundException", message):
        ecr_a.get_lifecycle_policy(repositoryName=repo)
    with ecr_error("LifecyclePolicyNotFoundException", message):
        ecr_a.delete_lifecycle_policy(repositoryName=repo)

    text = lifecycle_policy(KEEP_TWO_TAGGED, KEEP_ONE_UNTAGGED)
    answer = ecr_a.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=text)
    assert (answer["registryId"], answer["repositoryName"]) == (ACCOUNT_A, repo)
    assert answer["lifecyclePolicyText"] == text
    got = ecr_a.get_lifecycle_policy(repositoryName=repo)
    assert got["lifecyclePolicyText"] == text
    assert "lastEvaluatedAt" not in got  # never evaluated yet

    replaced = lifecycle_policy(KEEP_ONE_UNTAGGED)
    ecr_a.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=replaced)
    deleted = ecr_a.delete_lifecycle_policy(repositoryName=repo)
    assert deleted["lifecyclePolicyText"] == replaced
    with ecr_error("LifecyclePolicyNotFoundException"):
        ecr_a.get_lifecycle_policy(repositoryName=repo)


def test_put_rejects_bad_policies_with_aws_messages(ecr_a: Any, repo: str) -> None:
    zero = lifecycle_policy(
        rule(1, tagStatus="untagged", countType="imageCountMoreThan", countNumber=0)
    )
    with ecr_error(
        "InvalidParameterException",
        "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
        "'Lifecycle policy validation failure: numeric instance is lower than the "
        "required minimum (minimum: 1, found: 0)'",
    ):
        ecr_a.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=zero)
    not_json = "{" + "x" * 120
    with ecr_error(
        "InvalidParameterException",
        "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
        "'Lifecycle policy validation failure: Could not map policyString into "
        "LifecyclePolicy.'",
    ):
        ecr_a.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=not_json)
    with ecr_error("InvalidParameterException"):
        ecr_a.start_lifecycle_policy_preview(repositoryName=repo, lifecyclePolicyText=zero)
    with ecr_error("LifecyclePolicyNotFoundException"):
        ecr_a.get_lifecycle_policy(repositoryName=repo)  # nothing was stored
    with ecr_error("RepositoryNotFoundException"):
        ecr_a.put_lifecycle_policy(
            repositoryName=repo + "-missing",
            lifecyclePolicyText=lifecycle_policy(KEEP_ONE_UNTAGGED),
        )


# -- preview -------------------------------------------------------------------------------------


def test_preview_before_any_and_without_a_policy(ecr_a: Any, repo: str) -> None:
    with ecr_error(
        "LifecyclePolicyPreviewNotFoundException", "There is no dry run for this repository."
    ):
        ecr_a.get_lifecycle_policy_preview(repositoryName=repo)
    with ecr_error("LifecyclePolicyNotFoundException"):
        ecr_a.start_lifecycle_policy_preview(repositoryName=repo)


def test_preview_lists_what_a_run_does(
    ecr_a: Any, v2_a: httpx.Client, repo: str, ecr_server: DockyardServer
) -> None:
    pushed = push_series(v2_a, repo, "preview")
    text = lifecycle_policy(KEEP_TWO_TAGGED, KEEP_ONE_UNTAGGED)
    started = ecr_a.start_lifecycle_policy_preview(repositoryName=repo, lifecyclePolicyText=text)
    assert started["status"] == "IN_PROGRESS" and started["lifecyclePolicyText"] == text

    ecr_a.get_waiter("lifecycle_policy_preview_complete").wait(
        repositoryName=repo, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    answer = ecr_a.get_lifecycle_policy_preview(repositoryName=repo)
    assert answer["status"] == "COMPLETE" and answer["lifecyclePolicyText"] == text
    results = {r["imageDigest"]: r for r in answer["previewResults"]}
    assert set(results) == {pushed["v1"], pushed["v2"], pushed["u1"]}
    assert results[pushed["v1"]]["imageTags"] == ["v1"]
    assert "imageTags" not in results[pushed["u1"]]
    assert results[pushed["u1"]]["appliedRulePriority"] == 2
    assert results[pushed["v2"]]["action"] == {"type": "EXPIRE"}
    assert {r["storageClass"] for r in results.values()} == {"STANDARD"}
    assert answer["summary"] == {"expiringImageTotalCount": 3}

    # Pages, filters and lookups over the same results.
    first = ecr_a.get_lifecycle_policy_preview(repositoryName=repo, maxResults=2)
    second = ecr_a.get_lifecycle_policy_preview(
        repositoryName=repo, maxResults=2, nextToken=first["nextToken"]
    )
    assert "nextToken" not in second
    paged = [r["imageDigest"] for r in first["previewResults"] + second["previewResults"]]
    assert sorted(paged) == sorted(results)
    untagged = ecr_a.get_lifecycle_policy_preview(
        repositoryName=repo, filter={"tagStatus": "UNTAGGED"}
    )
    assert [r["imageDigest"] for r in untagged["previewResults"]] == [pushed["u1"]]
    looked_up = ecr_a.get_lifecycle_policy_preview(
        repositoryName=repo, imageIds=[{"imageTag": "v2"}, {"imageDigest": pushed["v4"]}]
    )
    assert [r["imageDigest"] for r in looked_up["previewResults"]] == [pushed["v2"]]

    # The preview changed nothing; a run does exactly what it listed.
    assert digests(ecr_a, repo) == set(pushed.values())
    ecr_a.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=text)
    run_lifecycle(ecr_server)
    assert digests(ecr_a, repo) == set(pushed.values()) - set(results)
    assert ecr_a.get_lifecycle_policy(repositoryName=repo)["lastEvaluatedAt"]


def test_preview_of_the_stored_policy_and_transitions(
    ecr_a: Any, v2_a: httpx.Client, repo: str
) -> None:
    pushed = push_series(v2_a, repo, "preview-stored")
    text = lifecycle_policy(
        rule(1, "transition", tagStatus="any", countType="imageCountMoreThan", countNumber=4)
    )
    ecr_a.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=text)
    answer = preview(ecr_a, repo)
    assert answer["lifecyclePolicyText"] == text
    assert {r["imageDigest"] for r in answer["previewResults"]} == {pushed["v1"], pushed["v2"]}
    assert {json.dumps(r["action"]) for r in answer["previewResults"]} == {
        json.dumps({"type": "TRANSITION", "targetStorageClass": "ARCHIVE"})
    }
    assert answer["summary"] == {
        "expiringImageTotalCount": 0,
        "transitioningImageTotalCounts": [{"targetStorageClass": "ARCHIVE", "imageTotalCount": 2}],
    }


# -- execution with --now ----------------------------------------------------------------------


def test_run_with_now_expires_by_age_and_logs(
    ecr_a: Any, v2_a: httpx.Client, repo: str, ecr_server: DockyardServer
) -> None:
    pushed = push_series(v2_a, repo, "by-age")
    text = lifecycle_policy(
        rule(
            1,
            tagStatus="tagged",
            tagPatternList=["v*"],
            countType="sinceImagePushed",
            countUnit="days",
            countNumber=14,
        )
    )
    ecr_a.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=text)

    run_lifecycle(ecr_server, time.time() + 13 * DAY)
    assert digests(ecr_a, repo) == set(pushed.values())  # not 14 days old yet

    output = run_lifecycle(ecr_server, time.time() + 15 * DAY)
    assert digests(ecr_a, repo) == {pushed["u1"], pushed["u2"]}
    assert f"lifecycle EXPIRE {repo}@{pushed['v3']} tags=v3 rule=1" in output
    response = v2_a.get(ociapi.manifest_url(repo, "v3"), headers={"Accept": ociapi.MANIFEST_ACCEPT})
    assert response.status_code == 404
    assert ecr_a.list_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})["imageIds"] == []


def test_expiry_takes_all_tags_and_referrers(
    ecr_a: Any, v2_a: httpx.Client, repo: str, ecr_server: DockyardServer
) -> None:
    old, new = small_image("multi-tag-old"), small_image("multi-tag-new")
    push_v2(v2_a, repo, old, "release-1", "latest-old", "build-7")
    signature = build_artifact(
        {"sig": b"signature"}, artifact_type="application/x.sig", subject=old
    )
    push_v2(v2_a, repo, signature)
    push_v2(v2_a, repo, new, "release-2")
    text = lifecycle_policy(
        rule(
            1,
            tagStatus="tagged",
            tagPrefixList=["release"],
            countType="imageCountMoreThan",
            countNumber=1,
        )
    )
    ecr_a.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=text)
    results = preview(ecr_a, repo)["previewResults"]
    assert {r["imageDigest"] for r in results} == {old.digest, signature.digest}

    run_lifecycle(ecr_server)
    assert digests(ecr_a, repo) == {new.digest}
    tags = ecr_a.list_images(repositoryName=repo)["imageIds"]
    assert [t.get("imageTag") for t in tags] == ["release-2"]


def test_transition_archives_then_expires_after_the_archive_minimum(
    ecr_a: Any, v2_a: httpx.Client, repo: str, ecr_server: DockyardServer
) -> None:
    image = small_image("to-archive")
    push_v2(v2_a, repo, image, "old")
    text = lifecycle_policy(
        rule(
            1,
            "transition",
            tagStatus="any",
            countType="sinceImagePushed",
            countUnit="days",
            countNumber=30,
        ),
        rule(
            2,
            tagStatus="any",
            storageClass="archive",
            countType="sinceImageTransitioned",
            countUnit="days",
            countNumber=90,
        ),
    )
    ecr_a.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=text)
    archive_time = time.time() + 31 * DAY
    run_lifecycle(ecr_server, archive_time)
    archived = detail(ecr_a, repo, image.digest)
    assert archived["imageStatus"] == "ARCHIVED" and archived["imageTags"] == ["old"]
    assert abs(archived["lastArchivedAt"].timestamp() - archive_time) < 5

    run_lifecycle(ecr_server, archive_time + 89 * DAY)
    assert digests(ecr_a, repo) == {image.digest}
    run_lifecycle(ecr_server, archive_time + 91 * DAY)
    assert digests(ecr_a, repo) == set()


# -- archive -------------------------------------------------------------------------------------


def test_archived_layers_and_scans(ecr_a: Any, v2_a: httpx.Client, repo: str) -> None:
    image, other = small_image("archived-layers"), small_image("active-layers")
    push_v2(v2_a, repo, image, "old")
    push_v2(v2_a, repo, other, "new")
    ecr_a.update_image_storage_class(
        repositoryName=repo, imageId={"imageTag": "old"}, targetStorageClass="ARCHIVE"
    )
    layer, active_layer = image.layers[0].digest, other.layers[0].digest
    found = ecr_a.batch_check_layer_availability(
        repositoryName=repo, layerDigests=[layer, active_layer]
    )
    assert {x["layerDigest"]: x["layerAvailability"] for x in found["layers"]} == {
        layer: "ARCHIVED",
        active_layer: "AVAILABLE",
    }
    with ecr_error("LayerInaccessibleException"):
        ecr_a.get_download_url_for_layer(repositoryName=repo, layerDigest=layer)
    assert ecr_a.get_download_url_for_layer(repositoryName=repo, layerDigest=active_layer)
    blob_url = f"/v2/{repo}/blobs/{layer}"
    denied = v2_a.get(blob_url)
    assert denied.status_code == 403 and denied.json()["errors"][0]["code"] == "DENIED"
    assert v2_a.head(blob_url).status_code == 200  # a push of the image still finds it
    with ecr_error("ImageArchivedException"):
        ecr_a.start_image_scan(repositoryName=repo, imageId={"imageTag": "old"})


def test_pushing_an_archived_image_again_restores_it(
    ecr_a: Any, v2_a: httpx.Client, repo: str
) -> None:
    image = small_image("re-push")
    push_v2(v2_a, repo, image, "first")
    ecr_a.update_image_storage_class(
        repositoryName=repo, imageId={"imageTag": "first"}, targetStorageClass="ARCHIVE"
    )
    push_v2(v2_a, repo, image, "second")
    status = detail(ecr_a, repo, image.digest)["imageStatus"]
    assert status in {"ACTIVATING", "ACTIVE"}
    restored = wait_for(
        lambda: (d := detail(ecr_a, repo, image.digest))["imageStatus"] == "ACTIVE" and d,
        timeout=10,
    )
    assert restored and restored["imageTags"] == ["first", "second"]
    ociapi.fetch_manifest(v2_a, repo, "second")


@pytest.fixture(scope="module")
def slow_restores() -> Any:
    """A server whose restores take an hour and whose schedule evaluates policies every 2 s."""
    from tests.ecr.conftest import ALL_KEYS, start_ecr_server

    server = start_ecr_server(ALL_KEYS, "--restore-delay", "1h", "--lifecycle-interval", "2s")
    try:
        yield server
    finally:
        server.close()


def test_restore_goes_through_activating(slow_restores: DockyardServer) -> None:
    from tests.ecr.conftest import KEY_A
    from tests.support.ecr import ecr_client, registry_token, v2_client

    ecr = ecr_client(slow_restores.url, KEY_A)
    ecr.create_repository(repositoryName="slow/restore")
    image = small_image("slow-restore")
    with v2_client(slow_restores.url, registry_token(ecr)) as v2:
        push_v2(v2, "slow/restore", image, "v1")
        ecr.update_image_storage_class(
            repositoryName="slow/restore", imageId={"imageTag": "v1"}, targetStorageClass="ARCHIVE"
        )
        requested = time.time()
        answer = ecr.update_image_storage_class(
            repositoryName="slow/restore", imageId={"imageTag": "v1"}, targetStorageClass="STANDARD"
        )
        assert answer["imageStatus"] == "ACTIVATING"
        activating = ecr.describe_images(
            repositoryName="slow/restore", filter={"imageStatus": "ACTIVATING"}
        )["imageDetails"]
        assert [d["imageDigest"] for d in activating] == [image.digest]
        response = v2.get(
            ociapi.manifest_url("slow/restore", "v1"), headers={"Accept": ociapi.MANIFEST_ACCEPT}
        )
        assert response.status_code == 404

        run_lifecycle(slow_restores, time.time() + 1800)  # half-way: still restoring
        assert detail(ecr, "slow/restore", image.digest)["imageStatus"] == "ACTIVATING"
        run_lifecycle(slow_restores, time.time() + 2 * 3600)
        done = detail(ecr, "slow/restore", image.digest)
        assert done["imageStatus"] == "ACTIVE"
        assert abs(done["lastActivatedAt"].timestamp() - (requested + 3600)) < 10
        ociapi.fetch_manifest(v2, "slow/restore", "v1")


def test_the_server_evaluates_policies_on_its_schedule(slow_restores: DockyardServer) -> None:
    from tests.ecr.conftest import KEY_A
    from tests.support.ecr import ecr_client, registry_token, v2_client

    ecr = ecr_client(slow_restores.url, KEY_A)
    ecr.create_repository(repositoryName="scheduled/app")
    with v2_client(slow_restores.url, registry_token(ecr)) as v2:
        pushed = [small_image(f"scheduled-{n}") for n in range(3)]
        for n, image in enumerate(pushed):
            push_v2(v2, "scheduled/app", image, f"v{n}")
    ecr.put_lifecycle_policy(
        repositoryName="scheduled/app",
        lifecyclePolicyText=lifecycle_policy(
            rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=1)
        ),
    )
    assert wait_for(lambda: digests(ecr, "scheduled/app") == {pushed[-1].digest}, timeout=30)
    assert ecr.get_lifecycle_policy(repositoryName="scheduled/app")["lastEvaluatedAt"]
    assert "lifecycle EXPIRE scheduled/app@" in slow_restores.log_path.read_text()


def test_enhanced_scanning_covers_existing_images(ecr_b: Any, v2_b: httpx.Client) -> None:
    ecr_b.create_repository(repositoryName="enhanced/existing")
    image = small_image("before-enhanced")
    push_v2(v2_b, "enhanced/existing", image, "v1")
    with ecr_error("ScanNotFoundException"):
        ecr_b.describe_image_scan_findings(
            repositoryName="enhanced/existing", imageId={"imageTag": "v1"}
        )
    ecr_b.put_registry_scanning_configuration(
        scanType="ENHANCED",
        rules=[
            {
                "scanFrequency": "CONTINUOUS_SCAN",
                "repositoryFilters": [{"filter": "enhanced/*", "filterType": "WILDCARD"}],
            }
        ],
    )
    found = ecr_b.describe_image_scan_findings(
        repositoryName="enhanced/existing", imageId={"imageTag": "v1"}
    )
    assert found["imageScanStatus"]["status"] != "IN_PROGRESS"  # enhanced: PENDING, then more
