"""The README's worked example, literally: its umoci commands build the image, the shipped OSV
sample finds the advisory it promises."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import REPO_ROOT, DockyardServer
from tests.support.skopeo import Skopeo

pytestmark = pytest.mark.e2e


def readme_block(containing: str) -> str:
    blocks = re.findall(r"```sh\n(.*?)```", (REPO_ROOT / "README.md").read_text(), re.DOTALL)
    return next(block for block in blocks if containing in block)


def test_the_readme_image_and_osv_sample_give_the_promised_finding(tmp_path: Path) -> None:
    if shutil.which("umoci") is None:
        pytest.fail("umoci is not installed (apt-get install umoci)")
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_block("umoci init")],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )

    with DockyardServer(extra_args=["--create-on-push", "--accept-any-credentials"]) as server:
        Skopeo().copy(
            f"oci:{tmp_path / 'my-image-layout'}:latest", f"docker://{server.address}/demo/app:v1"
        )
        dockyard = [sys.executable, "-m", "dockyard"]
        env = {**server.environment()}
        subprocess.run(
            [
                *dockyard,
                "vulndb",
                "import",
                str(REPO_ROOT / "examples/osv-sample"),
                "--data-dir",
                str(server.data_dir),
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        scan = subprocess.run(
            [*dockyard, "scan", "demo/app:v1", *server.store_args],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert scan.returncode == 0, scan.stderr
    assert "Alpine:v3.17" in scan.stdout
    assert re.search(r"HIGH\s+CVE-2025-26519\s+musl\s+1\.2\.3-r4\s+1\.2\.3-r6", scan.stdout), (
        scan.stdout
    )
