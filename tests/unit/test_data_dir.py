"""secure_data_dir: created private, tightened when found open, and the umask made private."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.data_dir import secure_data_dir


@pytest.fixture(autouse=True)
def restore_umask() -> Iterator[None]:
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_new_data_dir_is_private_and_so_is_what_comes_after(tmp_path: Path) -> None:
    os.umask(0)
    data_dir = tmp_path / "a" / "data"
    assert secure_data_dir(data_dir) == []
    assert mode(data_dir) == 0o700
    (data_dir / "later.db").write_bytes(b"x")
    (data_dir / "sub").mkdir()
    assert (mode(data_dir / "later.db"), mode(data_dir / "sub")) == (0o600, 0o700)


def test_an_open_data_dir_and_its_top_level_are_tightened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "blobs").mkdir(parents=True)
    (data_dir / "private").mkdir(mode=0o700)
    for path, wanted in ((data_dir, 0o755), (data_dir / "blobs", 0o775)):
        path.chmod(wanted)
    (data_dir / "dockyard.db").write_bytes(b"x")
    (data_dir / "dockyard.db").chmod(0o644)
    (data_dir / "link").symlink_to("/etc/hostname")
    tightened = secure_data_dir(data_dir)
    assert tightened == [data_dir, data_dir / "blobs", data_dir / "dockyard.db"]
    assert [mode(p) for p in tightened] == [0o700, 0o700, 0o600]
    assert "tightened" in capsys.readouterr().err


def test_a_stricter_umask_is_kept(tmp_path: Path) -> None:
    os.umask(0o277)
    secure_data_dir(tmp_path / "data")
    assert os.umask(0o077) == 0o277
