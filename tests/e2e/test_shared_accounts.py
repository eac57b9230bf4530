"""Servers sharing one metadata database share its generated account, whatever their data dirs.

Two real `dockyard serve` processes on one real PostgreSQL, each with its own data directory
and no --auth-file: the keys the first wrote to its credentials.toml work on the second, and the
second wrote the same ones to its own. A data dir whose credentials.toml names another account
is refused at start, in one line, rather than silently serving a second account.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.ecr import AccessKey, ecr_client
from tests.support.server import REPO_ROOT, DockyardServer


def _key_of(data_dir: Path) -> AccessKey:
    document = tomllib.loads((data_dir / "credentials.toml").read_text())
    account = document["accounts"][0]
    key = account["keys"][0]
    return AccessKey(account["id"], key["access_key_id"], key["secret_access_key"])


def test_two_servers_with_their_own_data_dirs_share_the_database_account(postgres, tmp_path):
    url = postgres.new_database()
    with (
        DockyardServer(tmp_path / "one", extra_args=["--database-url", url]) as one,
        DockyardServer(tmp_path / "two", extra_args=["--database-url", url]) as two,
    ):
        key = _key_of(one.data_dir)
        assert _key_of(two.data_dir) == key
        ecr_client(one.url, key).create_repository(repositoryName="shared/app")
        names = [
            r["repositoryName"]
            for r in ecr_client(two.url, key).describe_repositories()["repositories"]
        ]
        assert names == ["shared/app"]


def test_a_credentials_file_of_another_account_is_refused(postgres, tmp_path):
    url = postgres.new_database()
    with DockyardServer(tmp_path / "one", extra_args=["--database-url", url]):
        pass
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "credentials.toml").write_text(
        '[[accounts]]\nid = "123456789012"\n[[accounts.keys]]\n'
        'access_key_id = "AKIAOTHER"\nsecret_access_key = "x"\n'
    )
    result = _serve(stale, "--database-url", url)
    assert result.returncode != 0
    assert "holds other credentials than the metadata database" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("second_account", ["111111111111", "222222222222"])
def test_one_access_key_id_twice_in_an_auth_file_is_refused(tmp_path, second_account):
    auth = tmp_path / "auth.toml"
    auth.write_text(
        '[[accounts]]\nid = "111111111111"\n[[accounts.keys]]\n'
        'access_key_id = "AKIASAME"\nsecret_access_key = "a"\n'
        f'[[accounts]]\nid = "{second_account}"\n[[accounts.keys]]\n'
        'access_key_id = "AKIASAME"\nsecret_access_key = "b"\n'
    )
    result = _serve(tmp_path / "data", "--auth-file", str(auth))
    assert result.returncode != 0
    assert "access_key_id 'AKIASAME' appears twice" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _serve(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "dockyard",
        "serve",
        "--port",
        "1",
        "--data-dir",
        str(data_dir),
        *args,
    ]
    env = {"PYTHONPATH": str(REPO_ROOT / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
