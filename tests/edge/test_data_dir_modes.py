"""The data directory is private whatever the umask: `0700` directories, `0600` files.

A server is started under a permissive umask (000 and 022), an image is pushed, an upload is
left open, a scan database is imported, and every entry under the data directory is checked
while the server runs (so SQLite's `-wal` and `-shm` files exist). A data directory found
`0755` from an earlier, careless start is tightened, with a line in the log.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ociapi
from tests.support.ecr import small_image
from tests.support.server import DockyardServer
from tests.unit.scanner.osv_fixtures import zip_fixtures

pytestmark = pytest.mark.e2e


class UmaskDockyard(DockyardServer):
    """`dockyard serve` started by a shell that first sets ``umask``."""

    def __init__(self, umask: int, **kwargs: object) -> None:
        super().__init__(extra_args=("--create-on-push", "--accept-any-credentials"), **kwargs)
        self.umask = umask

    def command(self) -> list[str]:
        return ["sh", "-c", f'umask {self.umask:03o} && exec "$@"', "sh", *super().command()]


def modes_under(root: Path) -> dict[str, str]:
    """Relative path -> octal mode of the root and every entry below it."""
    found = {".": f"{stat.S_IMODE(root.stat().st_mode):04o}"}
    for directory, subdirs, files in os.walk(root):
        for name in subdirs + files:
            path = Path(directory, name)
            found[str(path.relative_to(root))] = f"{stat.S_IMODE(path.lstat().st_mode):04o}"
    return found


def not_private(root: Path) -> dict[str, str]:
    wrong = {}
    for relative, mode in modes_under(root).items():
        want = "0700" if (root / relative).is_dir() else "0600"
        if mode != want:
            wrong[relative] = mode
    return wrong


def vulndb_import(umask: int, data_dir: Path, archive: Path) -> None:
    command = [sys.executable, "-m", "dockyard", "vulndb", "import", str(archive),
               "--data-dir", str(data_dir)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    shell = ["sh", "-c", f'umask {umask:03o} && exec "$@"', "sh", *command]
    subprocess.run(shell, check=True, capture_output=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def osv_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    zips = {path.parent.name: path for path in zip_fixtures(tmp_path_factory.mktemp("osv"))}
    return zips["Alpine"]


@pytest.fixture(params=[0o000, 0o022], ids=["umask000", "umask022"])
def server(request: pytest.FixtureRequest) -> Iterator[UmaskDockyard]:
    with UmaskDockyard(request.param) as started:
        yield started


def test_everything_in_the_data_dir_is_private(server: UmaskDockyard, osv_zip: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        ociapi.push(client, "modes/app", small_image("modes", layers=2), "v1")
        open_upload = ociapi.start_upload(client, "modes/app")
        patched = ociapi.patch_chunk(client, open_upload, b"half of a layer", 0)
        assert patched.status_code == 202, ociapi.describe(patched)
    vulndb_import(server.umask, server.data_dir, osv_zip)
    names = modes_under(server.data_dir)
    assert "dockyard.db" in names and "credentials.toml" in names, names
    assert any(name.endswith("-wal") for name in names), names
    assert any(name.startswith("blobs/") for name in names), names
    assert not_private(server.data_dir) == {}, names


def test_a_more_open_data_dir_is_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "blobs").mkdir(parents=True)
    (data_dir / "notes.txt").write_text("left by an earlier start")
    for path, mode in ((data_dir, 0o755), (data_dir / "blobs", 0o755),
                       (data_dir / "notes.txt", 0o644)):  # fmt: skip
        path.chmod(mode)
    with UmaskDockyard(0o022, data_dir=data_dir) as started:
        assert not_private(data_dir) == {}, modes_under(data_dir)
        log = started.log_tail()
    assert "tightened" in log and str(data_dir / "notes.txt") in log, log
