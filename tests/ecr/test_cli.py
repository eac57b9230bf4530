"""The `aws` CLI (v1, `python -m awscli`) and `skopeo` logged in with `aws ecr get-login-password`.

Each command runs with only what the test gives it: access keys in AWS_* variables, config and
credentials files pointing at empty temp paths (set session-wide by the conftest), `--endpoint-url`
to the test server. skopeo gets a temp `--authfile`, HOME and XDG_RUNTIME_DIR, so no login on
the machine can stand in for the one under test.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ecr.conftest import ACCOUNT_A, KEY_A
from tests.support.ecr import REGION, AccessKey, push_v2, small_image
from tests.support.images import write_layout
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e

SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"


def cli_env(key: AccessKey, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=key.access_key_id,
        AWS_SECRET_ACCESS_KEY=key.secret_access_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
        HOME=str(home),
        XDG_RUNTIME_DIR=str(home),
        REGISTRY_AUTH_FILE=str(home / "auth.json"),
    )
    return env


def aws_command(server: DockyardServer, *args: str) -> list[str]:
    return [sys.executable, "-m", "awscli", *args, "--endpoint-url", server.url, "--output", "json"]


def aws(server: DockyardServer, home: Path, *args: str, check: bool = True) -> Any:
    result = subprocess.run(
        aws_command(server, *args),
        env=cli_env(KEY_A, home),
        capture_output=True,
        timeout=120,
        check=False,
    )
    if not check:
        return result
    assert result.returncode == 0, (
        f"aws {' '.join(args)} exited {result.returncode}\n"
        f"stdout: {result.stdout.decode()[-2000:]}\nstderr: {result.stderr.decode()[-2000:]}"
    )
    return json.loads(result.stdout) if result.stdout.strip() else None


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def test_cli_runs_as_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "awscli", "--version"], capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert b"aws-cli/" in result.stdout + result.stderr


def test_describe_images_and_list_images(
    ecr_server: DockyardServer, ecr_a: Any, v2_a: httpx.Client, repo: str, home: Path
) -> None:
    tagged, bare = small_image("cli-tagged", layers=2), small_image("cli-bare")
    push_v2(v2_a, repo, tagged, "a", "b")
    push_v2(v2_a, repo, bare)

    described = aws(ecr_server, home, "ecr", "describe-images", "--repository-name", repo)
    by_boto = {
        d["imageDigest"]: d for d in ecr_a.describe_images(repositoryName=repo)["imageDetails"]
    }
    assert {d["imageDigest"] for d in described["imageDetails"]} == {tagged.digest, bare.digest}
    for detail in described["imageDetails"]:
        expected = by_boto[detail["imageDigest"]]
        for field in (
            "registryId",
            "repositoryName",
            "imageSizeInBytes",
            "imageManifestMediaType",
            "artifactMediaType",
            "imageStatus",
        ):
            assert detail[field] == expected[field], field
        assert sorted(detail.get("imageTags", [])) == sorted(expected.get("imageTags", []))
        assert "imagePushedAt" in detail
    assert described["imageDetails"][0]["registryId"] == ACCOUNT_A

    listed = aws(ecr_server, home, "ecr", "list-images", "--repository-name", repo)
    assert sorted((e["imageDigest"], e.get("imageTag", "")) for e in listed["imageIds"]) == sorted(
        [(tagged.digest, "a"), (tagged.digest, "b"), (bare.digest, "")]
    )
    untagged = aws(
        ecr_server,
        home,
        "ecr",
        "list-images",
        "--repository-name",
        repo,
        "--filter",
        "tagStatus=UNTAGGED",
    )
    assert untagged["imageIds"] == [{"imageDigest": bare.digest}]


def test_cli_follows_pages(
    ecr_server: DockyardServer, v2_a: httpx.Client, repo: str, home: Path
) -> None:
    images = [small_image(f"cli-page-{i}") for i in range(5)]
    for image in images:
        push_v2(v2_a, repo, image)
    everything = aws(
        ecr_server, home, "ecr", "describe-images", "--repository-name", repo, "--page-size", "2"
    )
    digests = [d["imageDigest"] for d in everything["imageDetails"]]
    assert sorted(digests) == sorted(i.digest for i in images)
    some = aws(
        ecr_server, home, "ecr", "describe-images", "--repository-name", repo, "--max-items", "3"
    )
    assert len(some["imageDetails"]) == 3 and some.get("NextToken")
    rest = aws(
        ecr_server,
        home,
        "ecr",
        "describe-images",
        "--repository-name",
        repo,
        "--starting-token",
        some["NextToken"],
    )
    assert sorted(d["imageDigest"] for d in some["imageDetails"] + rest["imageDetails"]) == sorted(
        digests
    )


def test_batch_delete_image(
    ecr_server: DockyardServer, ecr_a: Any, v2_a: httpx.Client, repo: str, home: Path
) -> None:
    image = small_image("cli-delete")
    push_v2(v2_a, repo, image, "v1", "v2")
    deleted = aws(
        ecr_server,
        home,
        "ecr",
        "batch-delete-image",
        "--repository-name",
        repo,
        "--image-ids",
        "imageTag=v1",
        "imageTag=nope",
    )
    assert deleted["imageIds"] == [{"imageDigest": image.digest, "imageTag": "v1"}]
    assert [(f["imageId"], f["failureCode"]) for f in deleted["failures"]] == [
        ({"imageTag": "nope"}, "ImageNotFound")
    ]
    (detail,) = ecr_a.describe_images(repositoryName=repo)["imageDetails"]
    assert detail["imageTags"] == ["v2"]


def test_cli_reports_service_errors(ecr_server: DockyardServer, home: Path) -> None:
    result = aws(
        ecr_server, home, "ecr", "describe-images", "--repository-name", "ecr-e2e/nope", check=False
    )
    assert result.returncode != 0
    stderr = result.stderr.decode()
    assert "RepositoryNotFoundException" in stderr, stderr
    assert (
        f"The repository with name 'ecr-e2e/nope' does not exist in the registry with id '{ACCOUNT_A}'"
        in stderr
    ), stderr


def run(
    command: list[str] | str, env: dict[str, str], shell: bool = False
) -> subprocess.CompletedProcess[bytes]:
    args = ["bash", "-o", "pipefail", "-c", command] if shell else command
    return subprocess.run(args, env=env, capture_output=True, timeout=120, check=False)  # type: ignore[arg-type]


def test_get_login_password_then_skopeo_push(
    ecr_server: DockyardServer, ecr_a: Any, repo: str, home: Path, tmp_path: Path
) -> None:
    image = small_image("cli-skopeo", layers=2)
    layout = write_layout(tmp_path / "layout", {"v1": image})
    authfile = home / "auth.json"
    env = cli_env(KEY_A, home)
    target = f"docker://{ecr_server.address}/{repo}:v1"
    copy = [
        SKOPEO,
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        "--preserve-digests",
        "--dest-authfile",
        str(authfile),
        f"oci:{layout}:v1",
        target,
    ]

    # Without logging in, the push is refused.
    refused = run(copy, env)
    assert refused.returncode != 0, refused.stdout
    assert ecr_a.describe_images(repositoryName=repo)["imageDetails"] == []

    login = (
        " ".join(shlex.quote(part) for part in aws_command(ecr_server, "ecr", "get-login-password"))
        + f" | {shlex.quote(SKOPEO)} login --tls-verify=false --username AWS --password-stdin"
        + f" --authfile {shlex.quote(str(authfile))} {ecr_server.address}"
    )
    logged_in = run(login, env, shell=True)
    assert logged_in.returncode == 0, logged_in.stderr.decode()
    assert ecr_server.address in json.loads(authfile.read_text())["auths"]

    pushed = run(copy, env)
    assert pushed.returncode == 0, pushed.stderr.decode()
    (detail,) = ecr_a.describe_images(repositoryName=repo)["imageDetails"]
    assert detail["imageDigest"] == image.digest
    assert detail["imageTags"] == ["v1"]

    inspected = run(
        [SKOPEO, "inspect", "--tls-verify=false", "--raw", "--authfile", str(authfile), target], env
    )
    assert inspected.returncode == 0, inspected.stderr.decode()
    assert inspected.stdout == image.manifest.data
