"""The verify service and CLI on in-process stores (the e2e test runs it beside a server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dockyard.app import create_services
from dockyard.backends.blobs.fs.store import FilesystemBlobStore
from dockyard.backends.blobs.memory import MemoryBlobStore
from dockyard.cli import main as cli
from dockyard.services.verify import BlobVerifier
from dockyard.settings import Settings


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Recorder:
    def __init__(self) -> None:
        self.total, self.bytes, self.done = 0, 0, 0

    def start(self, blobs: int) -> None:
        self.total = blobs

    def advance(self, nbytes: int) -> None:
        self.bytes += nbytes

    def blob_done(self) -> None:
        self.done += 1


def store_with(*blobs: bytes) -> MemoryBlobStore:
    store = MemoryBlobStore()
    for i, data in enumerate(blobs):
        store.publish_data(f"u{i}", digest_of(data), data)
    return store


def test_a_clean_store_is_clean_and_every_byte_is_read() -> None:
    store = store_with(b"one", b"two" * 1000)
    verifier = BlobVerifier(None, store, None)  # type: ignore[arg-type]
    progress = Recorder()
    report = verifier.verify(verifier.targets("acct", None, None), False, progress)
    assert report.clean and report.checked == 2 and report.bytes_read == 3 + 3000
    assert (progress.total, progress.done, progress.bytes) == (2, 2, 3003)


def test_corruption_is_reported_and_quarantined_only_on_repair() -> None:
    store = store_with(b"good", b"bad")
    store.corrupt(digest_of(b"bad"), b"rot")
    verifier = BlobVerifier(None, store, None)  # type: ignore[arg-type]
    report = verifier.verify(list(store.list()), False, Recorder())
    [bad] = report.corrupt
    assert (bad.digest, bad.actual, bad.moved_to) == (digest_of(b"bad"), digest_of(b"rot"), None)
    assert store.stat(digest_of(b"bad")) == 3
    repaired = verifier.verify(list(store.list()), True, Recorder())
    assert repaired.corrupt[0].moved_to is not None
    assert store.stat(digest_of(b"bad")) is None and store.stat(digest_of(b"good")) == 4


def test_a_sample_is_that_many_distinct_stored_blobs() -> None:
    store = store_with(*(bytes([i]) for i in range(10)))
    verifier = BlobVerifier(None, store, None)  # type: ignore[arg-type]
    sample = verifier.targets("acct", None, 4)
    assert len(set(sample)) == 4 and set(sample) <= set(store.list())
    assert len(verifier.targets("acct", None, 50)) == 10


def test_the_filesystem_store_hashes_what_is_on_disk(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    store.probe()
    data = bytes(range(256)) * 40_000  # spans several reads of the reused buffer
    store.publish_data("u1", digest_of(data), data)
    seen: list[int] = []
    assert store.stored_digest(digest_of(data), seen.append) == digest_of(data)[7:]
    assert sum(seen) == len(data)
    path = tmp_path / "blobs" / "sha256" / digest_of(data)[7:9] / digest_of(data)[7:]
    path.write_bytes(data[:-1] + b"x")
    assert store.stored_digest(digest_of(data)) != digest_of(data)[7:]
    assert store.stored_digest(digest_of(b"absent")) is None


def test_the_cli_exit_status_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data_dir = tmp_path / "data"
    assert cli.main(["verify", "--data-dir", str(data_dir)]) == 2  # no server's data there
    assert not data_dir.exists()  # and a wrong --data-dir creates nothing
    create_services(Settings(data_dir=data_dir)).meta.close()  # what a server's first start makes
    capsys.readouterr()
    assert cli.main(["verify", "--data-dir", str(data_dir)]) == 0
    assert "verified 0 blobs" in capsys.readouterr().out
    blobs = FilesystemBlobStore(data_dir / "blobs")
    blobs.publish_data("u1", digest_of(b"layer"), b"layer")
    (data_dir / "blobs" / "blobs" / "sha256" / digest_of(b"layer")[7:9]
     / digest_of(b"layer")[7:]).write_bytes(b"LAYER")  # fmt: skip
    assert cli.main(["verify", "--data-dir", str(data_dir), "--repair"]) == 1
    out = capsys.readouterr().out
    assert f"CORRUPT {digest_of(b'layer')}" in out and "moved to" in out
    assert cli.main(["verify", "--data-dir", str(data_dir), "--repository", "no/such"]) == 2
    assert "does not exist" in capsys.readouterr().err
