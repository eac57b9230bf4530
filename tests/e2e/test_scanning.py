"""Scanning end to end: skopeo pushes real images, boto3 waits for and reads the scans.

The vulnerability data is imported into the running server's data directory with
`dockyard vulndb import` (real OSV records, tests/fixtures/osv) and the fixture images carry
the exact package versions those records name (tests/fixtures/osv/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, WaiterError

from tests.support import fixture_images as fx
from tests.support import ociapi
from tests.support.images import write_layout
from tests.support.server import DockyardServer
from tests.support.skopeo import Skopeo
from tests.unit.scanner.osv_fixtures import zip_fixtures

pytestmark = pytest.mark.e2e

DEBIAN_TAR = {"CVE-2022-48303", "CVE-2023-39804"}


def vulndb_import(data_dir: Path, *paths: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "dockyard",
        "vulndb",
        "import",
        *map(str, paths),
        "--data-dir",
        str(data_dir),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {path.parent.name: path for path in zip_fixtures(tmp_path_factory.mktemp("osv"))}


@pytest.fixture(scope="module")
def scan_server(zips: dict[str, Path]) -> Iterator[DockyardServer]:
    server = DockyardServer(extra_args=("--create-on-push", "--accept-any-credentials"))
    try:
        server.start()
        # Imported while the server runs: it must use the data without a restart.
        vulndb_import(server.data_dir, *(zips[e] for e in ("Debian", "Alpine", "PyPI")))
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def ecr(scan_server: DockyardServer):
    return boto3.client(
        "ecr", endpoint_url=scan_server.url, region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip


def push(server: DockyardServer, skopeo: Skopeo, tmp: Path, repo: str, *layers) -> str:
    layout = write_layout(tmp / repo.replace("/", "_"), {"v1": fx.image_of(*layers)})
    return skopeo.copy(
        f"oci:{layout}:v1", f"docker://{server.address}/{repo}:v1", digestfile=tmp / "digest"
    )


def wait_complete(ecr, repo: str) -> None:
    ecr.get_waiter("image_scan_complete").wait(
        repositoryName=repo, imageId={"imageTag": "v1"},
        WaiterConfig={"Delay": 1, "MaxAttempts": 60},
    )  # fmt: skip


def finding_names(ecr, repo: str, key: str = "findings") -> set[str]:
    found = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageTag": "v1"})
    return {
        f.get("name") or f["packageVulnerabilityDetails"]["vulnerabilityId"]
        for f in found["imageScanFindings"].get(key, [])
    }


def test_scan_on_push_debian(ecr, scan_server, skopeo: Skopeo, tmp_path: Path) -> None:
    ecr.create_repository(
        repositoryName="scan/debian", imageScanningConfiguration={"scanOnPush": True}
    )
    digest = push(scan_server, skopeo, tmp_path, "scan/debian", fx.debian12_files())
    wait_complete(ecr, "scan/debian")
    [detail] = ecr.describe_images(repositoryName="scan/debian")["imageDetails"]
    assert detail["imageDigest"] == digest
    assert detail["imageScanStatus"]["status"] == "COMPLETE"
    summary = detail["imageScanFindingsSummary"]
    assert summary["findingSeverityCounts"] == {"UNDEFINED": 2}
    assert summary["vulnerabilitySourceUpdatedAt"] is not None
    found = ecr.describe_image_scan_findings(
        repositoryName="scan/debian", imageId={"imageTag": "v1"}
    )
    findings = found["imageScanFindings"]["findings"]
    assert {f["name"] for f in findings} == DEBIAN_TAR
    for finding in findings:
        attributes = {a["key"]: a["value"] for a in finding["attributes"]}
        assert attributes["package_name"] == "tar"
        assert attributes["package_version"] == "1.34+dfsg-1.2"
        assert finding["uri"]


def test_scan_on_push_alpine(ecr, scan_server, skopeo: Skopeo, tmp_path: Path) -> None:
    ecr.create_repository(
        repositoryName="scan/alpine", imageScanningConfiguration={"scanOnPush": True}
    )
    push(scan_server, skopeo, tmp_path, "scan/alpine", fx.alpine319_files())
    wait_complete(ecr, "scan/alpine")
    [detail] = ecr.describe_images(repositoryName="scan/alpine")["imageDetails"]
    assert detail["imageScanFindingsSummary"]["findingSeverityCounts"] == {"HIGH": 1}
    assert finding_names(ecr, "scan/alpine") == {"CVE-2025-26519"}


def test_fixed_versions_have_no_findings(ecr, scan_server, skopeo, tmp_path: Path) -> None:
    fixed = [fx.Deb("tar", "1.34+dfsg-1.2+deb12u1"), fx.Deb("bash", "5.2.15-2+b2")]
    ecr.create_repository(
        repositoryName="scan/fixed", imageScanningConfiguration={"scanOnPush": True}
    )
    push(scan_server, skopeo, tmp_path, "scan/fixed", fx.debian12_files(fixed))
    wait_complete(ecr, "scan/fixed")
    [detail] = ecr.describe_images(repositoryName="scan/fixed")["imageDetails"]
    assert detail["imageScanFindingsSummary"]["findingSeverityCounts"] == {}
    assert finding_names(ecr, "scan/fixed") == set()


def test_scratch_image_is_unsupported(ecr, scan_server, skopeo, tmp_path: Path) -> None:
    ecr.create_repository(repositoryName="scan/scratch")
    push(scan_server, skopeo, tmp_path, "scan/scratch", fx.scratch_files())
    with pytest.raises(ClientError) as missing:
        ecr.describe_image_scan_findings(repositoryName="scan/scratch", imageId={"imageTag": "v1"})
    assert missing.value.response["Error"]["Code"] == "ScanNotFoundException"
    started = ecr.start_image_scan(repositoryName="scan/scratch", imageId={"imageTag": "v1"})
    assert started["imageScanStatus"]["status"] == "IN_PROGRESS"
    with pytest.raises(WaiterError):
        wait_complete(ecr, "scan/scratch")
    status = ecr.describe_image_scan_findings(
        repositoryName="scan/scratch", imageId={"imageTag": "v1"}
    )["imageScanStatus"]
    assert status == {
        "status": "FAILED",
        "description": (
            "UnsupportedImageError: The operating system and/or package manager are not supported."
        ),
    }
    # One basic scan per image per 24 hours, failed or not.
    with pytest.raises(ClientError) as limited:
        ecr.start_image_scan(repositoryName="scan/scratch", imageId={"imageTag": "v1"})
    assert limited.value.response["Error"]["Code"] == "LimitExceededException"


def test_enhanced_scanning_follows_new_data(
    ecr, scan_server, skopeo, tmp_path: Path, zips: dict[str, Path]
) -> None:
    ecr.put_registry_scanning_configuration(
        scanType="ENHANCED",
        rules=[
            {
                "scanFrequency": "CONTINUOUS_SCAN",
                "repositoryFilters": [{"filter": "enhanced/*", "filterType": "WILDCARD"}],
            }
        ],
    )
    try:
        ecr.create_repository(repositoryName="enhanced/app")
        base = fx.debian12_files([fx.Deb("bash", "5.2.15-2+b2")])
        push(
            scan_server,
            skopeo,
            tmp_path,
            "enhanced/app",
            base,
            fx.python_files("2.25.0"),
            npm_package("ansi-html", "0.0.7"),
        )
        assert wait_for(
            lambda: finding_names(ecr, "enhanced/app", "enhancedFindings") == {"CVE-2023-32681"}
        )
        [detail] = ecr.describe_images(repositoryName="enhanced/app")["imageDetails"]
        assert detail["imageScanStatus"]["status"] == "ACTIVE"
        # New vulnerability data: the image is re-matched without a new push.
        vulndb_import(scan_server.data_dir, zips["npm"])
        assert wait_for(
            lambda: (
                finding_names(ecr, "enhanced/app", "enhancedFindings")
                == {"CVE-2023-32681", "CVE-2021-23424"}
            )
        )
    finally:
        ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[])


def test_enhanced_scanning_scans_images_pushed_before_it(
    ecr, scan_server, skopeo, tmp_path: Path
) -> None:
    """Turning enhanced scanning on covers the images already there, not only new pushes."""
    ecr.create_repository(repositoryName="enhanced-later/app")
    push(
        scan_server,
        skopeo,
        tmp_path,
        "enhanced-later/app",
        fx.debian12_files(),
        fx.python_files("2.25.0"),
    )
    with pytest.raises(ClientError, match="ScanNotFoundException"):
        finding_names(ecr, "enhanced-later/app", "enhancedFindings")  # never scanned
    ecr.put_registry_scanning_configuration(
        scanType="ENHANCED",
        rules=[
            {
                "scanFrequency": "CONTINUOUS_SCAN",
                "repositoryFilters": [{"filter": "enhanced-later/*", "filterType": "WILDCARD"}],
            }
        ],
    )
    try:
        # CVE-2023-32681 is in the PyPI package: only an enhanced scan reports it.
        assert wait_for(
            lambda: "CVE-2023-32681" in finding_names(ecr, "enhanced-later/app", "enhancedFindings")
        )
        [detail] = ecr.describe_images(repositoryName="enhanced-later/app")["imageDetails"]
        assert detail["imageScanStatus"]["status"] == "ACTIVE"
    finally:
        ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[])


def npm_package(name: str, version: str) -> dict[str, bytes]:
    manifest = f'{{"name": "{name}", "version": "{version}", "license": "Apache-2.0"}}'
    return {
        f"app/node_modules/{name}/package.json": manifest.encode(),
        "app/package.json": b'{"name": "app", "version": "1.0.0"}',
    }


def wait_for(check, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except (ClientError, KeyError):
            pass
        time.sleep(0.5)
    return bool(check())


def test_scan_command_prints_findings(scan_server, skopeo, tmp_path: Path, ecr) -> None:
    ecr.create_repository(repositoryName="scan/cli")
    push(scan_server, skopeo, tmp_path, "scan/cli", fx.debian12_files())
    result = subprocess.run(
        [sys.executable, "-m", "dockyard", "scan", "scan/cli:v1", *scan_server.store_args],
        capture_output=True, text=True, timeout=120, check=False, env=scan_server.environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Debian:12" in result.stdout
    for cve in DEBIAN_TAR:
        assert cve in result.stdout


def test_corrupt_layer_fails_the_scan_not_the_worker(ecr, scan_server, skopeo, tmp_path) -> None:
    """An untrusted layer that is not valid gzip ends FAILED with a reason; scanning goes on."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [ociapi.sha256_digest(b"x")]},
        }
    )
    layer = b"\x1f\x8b\x08\x00" + bytes(range(256)) * 64  # a gzip header, then garbage
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": ociapi.sha256_digest(config.encode()),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": ociapi.sha256_digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    ecr.create_repository(repositoryName="scan/corrupt")
    with httpx.Client(base_url=scan_server.url, timeout=30) as client:
        ociapi.push_blob(client, "scan/corrupt", config.encode())
        ociapi.push_blob(client, "scan/corrupt", layer)
        pushed = client.put(
            ociapi.manifest_url("scan/corrupt", "v1"),
            content=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert pushed.status_code == 201, ociapi.describe(pushed)
    ecr.start_image_scan(repositoryName="scan/corrupt", imageId={"imageTag": "v1"})
    with pytest.raises(WaiterError):
        wait_complete(ecr, "scan/corrupt")
    status = ecr.describe_image_scan_findings(
        repositoryName="scan/corrupt", imageId={"imageTag": "v1"}
    )["imageScanStatus"]
    assert status["status"] == "FAILED"
    assert status["description"] and "Unsupported" not in status["description"]
    # The worker survived: a good image pushed afterwards is still scanned.
    ecr.create_repository(
        repositoryName="scan/after", imageScanningConfiguration={"scanOnPush": True}
    )
    push(scan_server, skopeo, tmp_path, "scan/after", fx.debian12_files())
    wait_complete(ecr, "scan/after")
