"""A first run without surprises: configuration mistakes are one line and a non-zero exit, a
failed start leaves nothing behind, and "serving on" means the port is really bound."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.ecr import AccessKey, write_auth_file
from tests.support.server import REPO_ROOT, DockyardServer, free_port

pytestmark = pytest.mark.e2e


def dockyard(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(REPO_ROOT / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    assert "serving on" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("dockyard")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], result.stderr


def test_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("oops")

    result = dockyard("serve", "--data-dir", "data", "--port", "0", cwd=tmp_path)

    assert_one_clear_line(result, "data", "is a file")


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("/sys/dockyard-e2e-data", "cannot create --data-dir"),  # sysfs: mkdir is refused
        ("/sys/kernel", "is not writable"),  # exists, not writable even by root
    ],
)
def test_a_data_dir_that_cannot_be_written(tmp_path: Path, where: str, says: str) -> None:
    result = dockyard("serve", "--data-dir", where, "--port", "0", cwd=tmp_path)

    assert_one_clear_line(result, says)


@pytest.mark.parametrize("url", ["file://relative/blobs", "file:", "nfs://server/blobs"])
def test_a_bad_storage_url_creates_nothing(tmp_path: Path, url: str) -> None:
    result = dockyard(
        "serve", "--data-dir", "fresh/data", "--storage-url", url, "--port", "0", cwd=tmp_path
    )

    assert_one_clear_line(result, url)
    assert not (tmp_path / "fresh").exists()


def test_a_bad_log_level_and_port_are_refused_by_the_parser(tmp_path: Path) -> None:
    level = dockyard("serve", "--log-level", "loud", cwd=tmp_path)
    port = dockyard("serve", "--port", "99999", cwd=tmp_path)

    for result, word in ((level, "loud"), (port, "99999")):
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "error:" in result.stderr and word in result.stderr
        assert "serving on" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_auth_file_key_without_a_secret(tmp_path: Path) -> None:
    auth = tmp_path / "auth.toml"
    auth.write_text(
        '[[accounts]]\nid = "111111111111"\n[[accounts.keys]]\naccess_key_id = "AKIA1"\n'
    )

    result = dockyard(
        "serve", "--auth-file", str(auth), "--data-dir", "d", "--port", "0", cwd=tmp_path
    )

    assert_one_clear_line(result, "111111111111", "key #1", "has no secret_access_key")
    assert not (tmp_path / "d").exists()


def test_one_access_key_in_two_accounts_is_refused(tmp_path: Path) -> None:
    keys = [
        AccessKey("111111111111", "AKIASAMEKEY000000001", "secret-one"),
        AccessKey("222222222222", "AKIASAMEKEY000000001", "secret-two"),
    ]
    auth = write_auth_file(tmp_path / "auth.toml", keys)

    result = dockyard(
        "serve", "--auth-file", str(auth), "--data-dir", "d", "--port", "0", cwd=tmp_path
    )

    assert_one_clear_line(result, "AKIASAMEKEY000000001", "111111111111", "222222222222")
    assert "secret-one" not in result.stderr and "secret-two" not in result.stderr


def test_a_port_in_use_is_an_error_before_any_success_or_data(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = dockyard("serve", "--data-dir", "d", "--port", str(port), cwd=tmp_path)

    assert_one_clear_line(result, f"127.0.0.1:{port}")
    assert not (tmp_path / "d").exists()


def test_scan_with_a_wrong_data_dir_creates_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    missing = dockyard("scan", "demo/app:v1", "--data-dir", "nowhere", cwd=tmp_path)
    no_database = dockyard("scan", "demo/app:v1", "--data-dir", "empty", cwd=tmp_path)

    assert_one_clear_line(missing, "nowhere")
    assert_one_clear_line(no_database, "dockyard.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
    assert list(empty.iterdir()) == []


def test_serving_on_names_the_port_actually_bound(tmp_path: Path) -> None:
    server = DockyardServer(extra_args=["--accept-any-credentials"])
    server.port = 0  # ask for any free port; the printed address must be the real one
    process = subprocess.Popen(
        [*server.command()],
        cwd=tmp_path,
        env=server.environment(),
        text=True,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    try:
        line = next(line for line in process.stderr if "serving on" in line)
        url = line.split("serving on ")[1].split()[0]
        assert not url.endswith(":0")
        assert httpx.get(url + "/healthz", timeout=10).text == "ok"
    finally:
        process.terminate()
        process.wait(30)
        server.close()
    assert process.returncode == 0


def test_help_shows_every_option_with_its_default(tmp_path: Path) -> None:
    result = dockyard("serve", "--help", cwd=tmp_path)

    assert result.returncode == 0
    assert "--shutdown-timeout" in result.stdout and "(default: 10.0)" in result.stdout
    assert "--port" in result.stdout and "(default: 5000)" in result.stdout


def test_a_free_port_and_config_from_the_environment(tmp_path: Path) -> None:
    """The port from DOCKYARD_PORT, the data dir from a --config file: both reach the server."""
    port = free_port()
    (tmp_path / "dockyard.toml").write_text(
        'data_dir = "from-file"\naccept_any_credentials = true\n'
    )
    env = {
        "PYTHONPATH": str(REPO_ROOT / "src"),
        "PATH": "/usr/bin:/bin",
        "DOCKYARD_PORT": str(port),
        "DOCKYARD_CONFIG": "dockyard.toml",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "serve"],
        cwd=tmp_path,
        env=env,
        text=True,
        stderr=subprocess.PIPE,
    )
    try:
        next(line for line in process.stderr if "serving on" in line)
        assert httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=10).status_code == 200
        assert (tmp_path / "from-file" / "dockyard.db").exists()
    finally:
        process.terminate()
        process.wait(30)
