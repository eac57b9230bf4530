"""dockyard.testing: the context manager and the pytest plugin other projects use.

The registry is a real `dockyard serve` child process; these tests use it as a stranger would,
through boto3, skopeo and plain HTTP, then check it left nothing behind.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import httpx

from dockyard.testing import Registry, registry
from tests.support.ecr import push_ecr, small_image
from tests.support.server import REPO_ROOT


def test_the_registry_token_expires_when_the_clock_moves_on() -> None:
    with registry() as reg:
        directory, process, port = reg.directory, reg.process, reg.port
        ecr = reg.client("ecr")
        ecr.create_repository(repositoryName="clock/app")
        password = reg.authorization_token()
        tags = f"{reg.endpoint_url}/v2/clock/app/tags/list"
        assert httpx.get(tags, auth=("AWS", password)).status_code == 200
        before = ecr.describe_repositories()["repositories"][0]["createdAt"]
        reg.advance(12 * 3600 + 60)
        assert httpx.get(tags, auth=("AWS", password)).status_code == 401
        # Signed API calls still work (signatures are dated by real time); new things are dated
        # by the registry's clock, and a new token works again.
        ecr.create_repository(repositoryName="clock/later")
        later = {
            r["repositoryName"]: r["createdAt"] for r in ecr.describe_repositories()["repositories"]
        }["clock/later"]
        assert (later - before).total_seconds() >= 12 * 3600
        assert httpx.get(tags, auth=("AWS", reg.authorization_token())).status_code == 200
    _left_nothing(directory, process, port)


def test_skopeo_logs_in_and_reads_what_boto3_pushed() -> None:
    with registry() as reg:
        image = small_image("testing-plugin")
        reg.client().create_repository(repositoryName="plugin/app")
        push_ecr(reg.client(), "plugin/app", image, "v1")
        authfile = reg.login("skopeo")
        inspected = subprocess.run(
            [
                "skopeo",
                "inspect",
                "--raw",
                "--tls-verify=false",
                "--authfile",
                str(authfile),
                f"docker://{reg.registry_host}/plugin/app:v1",
            ],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        assert inspected == image.manifest.data


def _left_nothing(directory: Path | None, process: subprocess.Popen | None, port: int) -> None:
    assert process is not None and process.poll() is not None
    assert directory is not None and not directory.exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nobody listens any more


def test_a_server_that_cannot_start_says_why() -> None:
    reg = Registry(extra_args=["--storage-url", "nope://x"])
    try:
        reg.start()
        raise AssertionError("started with an unknown storage URL")
    except RuntimeError as exc:
        assert "unknown storage URL scheme" in str(exc)
    assert reg.directory is None


def test_the_pytest_plugin_in_another_projects_session(tmp_path: Path) -> None:
    (tmp_path / "test_uses_dockyard.py").write_text(
        textwrap.dedent("""
        import httpx

        def test_session_registry(dockyard_registry):
            ecr = dockyard_registry.client("ecr")
            ecr.create_repository(repositoryName="other/project")
            assert dockyard_registry.account_id == ecr.describe_repositories()[
                "repositories"][0]["registryId"]

        def test_session_registry_is_shared(dockyard_registry):
            names = [r["repositoryName"] for r in
                     dockyard_registry.client().describe_repositories()["repositories"]]
            assert names == ["other/project"]

        def test_fresh_registry_per_test(dockyard_registry_per_test):
            reg = dockyard_registry_per_test
            assert reg.client().describe_repositories()["repositories"] == []
            token = reg.authorization_token()
            reg.advance(13 * 3600)
            assert httpx.get(reg.endpoint_url + "/v2/", auth=("AWS", token)).status_code == 401
    """)
    )
    # Entry points off, the plugin named explicitly: the same whether or not this checkout is
    # installed (an installed one would load it through its pytest11 entry point as well).
    env = {
        "PYTHONPATH": str(REPO_ROOT / "src"),
        "PATH": "/usr/bin:/bin",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "dockyard.testing.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=False,
    )
    assert "3 passed" in result.stdout, result.stdout + result.stderr


def test_the_package_registers_the_plugin_with_pytest() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    entry = project["project"]["entry-points"]["pytest11"]["dockyard"]
    assert entry == "dockyard.testing.pytest_plugin"
    probe = "import dockyard.testing.pytest_plugin as p; print(p.dockyard_registry.__name__)"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO_ROOT / "src")},
        check=True,
    ).stdout
    assert out.strip() == "dockyard_registry"
