"""The progress bar of the long CLI commands: drawn on a terminal, silent in logs and pipes.

In-process tests use a stream whose `isatty()` is True; one test runs the real CLI with a
pseudo-terminal as its stderr, and the same command with a pipe, as an operator would see it.
"""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard import progress as progress_module
from dockyard.backends.scanner import osv_index_build
from dockyard.cli.main import main
from dockyard.cli.scan import LayerProgress
from dockyard.domain.models import Image
from dockyard.progress import Progress

SRC = Path(__file__).resolve().parents[2] / "src"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def osv_record(vid: str) -> dict:
    return {
        "id": vid,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "openssl"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1"}]}
                ],
            }
        ],
    }


def osv_dir(root: Path, count: int) -> Path:
    root.mkdir(parents=True)
    for i in range(count):
        (root / f"DSA-{i}.json").write_text(json.dumps(osv_record(f"DSA-{i}")))
    return root


def test_draws_phase_bar_percent_and_count_on_a_terminal() -> None:
    out = FakeTerminal()
    bar = Progress(out)
    bar("mark", 42, 100)
    bar.close()
    assert out.getvalue() == "\rmark     [############..................]  42%  42/100\x1b[K\n"


def test_fraction_form_and_clamping() -> None:
    out = FakeTerminal()
    with Progress(out) as bar:
        bar.fraction("sweep", 1.7, 5)
    assert "[" + "#" * 30 + "] 100%  5" in out.getvalue()


def test_silent_when_the_stream_is_not_a_terminal() -> None:
    out = io.StringIO()
    with Progress(out) as bar:
        bar("mark", 1, 2)
        bar.fraction("sweep", 1.0, 3)
    assert out.getvalue() == ""
    assert not bar.live


def test_redraws_at_most_ten_times_a_second_but_always_the_last_step() -> None:
    out, clock = FakeTerminal(), StepClock()
    bar = Progress(out, clock=clock)
    for done in range(100):
        bar("verify", done, 100)  # all at the same instant: only the first is drawn
    assert out.getvalue().count("\r") == 1
    bar("verify", 100, 100)
    clock.now += 0.2
    bar("verify", 100, 100)
    assert out.getvalue().count("\r") == 3
    assert "100/100" in out.getvalue().rsplit("\r", 1)[1]


def test_nothing_drawn_means_no_newline() -> None:
    out = FakeTerminal()
    Progress(out).close()
    assert out.getvalue() == ""


def test_vulndb_import_reports_per_file_and_per_record_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(progress_module, "INTERVAL", 0.0)
    monkeypatch.setattr(osv_index_build, "RECORD_BATCH", 2)
    first, second = osv_dir(tmp_path / "a", 5), osv_dir(tmp_path / "b", 1)
    code = main(["vulndb", "import", str(first), str(second), "--data-dir", str(tmp_path / "d")])
    assert code == 0
    drawn = terminal.getvalue().split("\r")[1:]
    assert drawn[0].startswith("import   [") and " 0/2  a" in drawn[0]
    assert any("0/2  a: 4 records" in line for line in drawn)  # a batch within the first file
    assert any(" 1/2  b" in line for line in drawn)  # the second file
    assert " 2/2  6 records" in drawn[-1] and drawn[-1].endswith("\n")
    assert "imported 6 records" in capsys.readouterr().out


def test_vulndb_import_through_a_pseudo_terminal_and_through_a_pipe(tmp_path: Path) -> None:
    source = osv_dir(tmp_path / "osv", 3)
    command = [sys.executable, "-m", "dockyard", "vulndb", "import", str(source)]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            [*command, "--data-dir", str(tmp_path / "tty")],
            stderr=slave,
            stdout=subprocess.PIPE,
            env=env,
            timeout=120,
            check=False,
        )
        os.close(slave)
        shown = _read_all(master)
    finally:
        os.close(master)
    assert done.returncode == 0
    assert "import   [" + "#" * 30 + "] 100%  1/1" in shown
    piped = subprocess.run(
        [*command, "--data-dir", str(tmp_path / "pipe")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert piped.returncode == 0 and "imported 3 records" in piped.stdout
    assert piped.stderr == ""


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other end is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


class FakeBlobs:
    def __init__(self) -> None:
        self.read_digests: list[str] = []

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        self.read_digests.append(digest)
        return iter([b""])

    def exists(self, digest: str) -> bool:
        return True


def test_scan_counts_layers_as_the_scanner_opens_them() -> None:
    layers = [f"sha256:{str(i) * 64}" for i in range(1, 4)]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + "c" * 64,
                "size": 2,
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": 1}
                for d in layers
            ],
        }
    ).encode()
    image = Image(
        id=1,
        repo_id=1,
        digest="sha256:" + "e" * 64,
        media_type="application/vnd.oci.image.manifest.v1+json",
        artifact_media_type=None,
        size_bytes=len(manifest),
        pushed_at=0.0,
        last_pulled_at=None,
        subject_digest=None,
        manifest=manifest,
    )
    calls: list[tuple[str, int, int]] = []
    blobs = FakeBlobs()
    wrapped = LayerProgress(blobs, image, lambda *a: calls.append(a))  # type: ignore[arg-type]
    wrapped.read("sha256:" + "c" * 64)  # the config is no layer
    for digest in layers:
        wrapped.read(digest)
    wrapped.finish()
    assert calls == [("layers", 0, 3), ("layers", 1, 3), ("layers", 2, 3), ("layers", 3, 3)]
    assert blobs.read_digests == ["sha256:" + "c" * 64, *layers]
    assert wrapped.exists("x") is True  # everything else goes straight to the store


def test_gc_draws_its_phases_on_a_terminal_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dockyard.app import create_services
    from dockyard.settings import Settings

    create_services(Settings(data_dir=tmp_path / "data")).meta.close()  # a server's data dir
    command = ["gc", "--data-dir", str(tmp_path / "data")]
    capsys.readouterr()
    assert main(command) == 0
    assert capsys.readouterr().err == ""  # captured stderr is no terminal: silent
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(command) == 0
    assert "mark     [" + "#" * 30 + "] 100%  0" in terminal.getvalue()
    assert terminal.getvalue().endswith("\n")
