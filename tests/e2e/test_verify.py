"""`dockyard verify` against a server's real data: clean, corrupt, repaired (then 404).

The server keeps running while `verify` reads the same data directory (or database and bucket,
with --e2e-database=postgres --e2e-storage=s3), as an operator would run it; the command runs
in the test's process through the CLI's entry point (a subprocess each time costs seconds).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from dockyard.cli import main as cli
from tests.support import ociapi
from tests.support.images import pseudo_random_bytes
from tests.support.server import DockyardServer

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[DockyardServer]:
    with DockyardServer(extra_args=["--create-on-push", "--accept-any-credentials"]) as server:
        yield server


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def verify(
    server: DockyardServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> Callable[..., Outcome]:
    """`dockyard verify` on the server's stores, in this process (the CLI's own entry point)."""
    for name, value in DockyardServer.storage_environment.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> Outcome:
        code = cli.main(["verify", *server.store_args, *args])
        out, err = capsys.readouterr()
        return Outcome(code, out, err)

    return run


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def on_a_terminal(verify: Callable[..., Outcome]) -> str:
    """What `dockyard verify` draws on stderr when stderr is a terminal."""
    terminal = FakeTerminal()
    saved, sys.stderr = sys.stderr, terminal
    try:
        assert verify().returncode == 0
    finally:
        sys.stderr = saved
    return terminal.getvalue()


def corrupt(server: DockyardServer, digest: str, data: bytes) -> None:
    """Change a stored blob's bytes behind the registry's back (bit rot, a bad disk)."""
    if server.storage_url:
        from dockyard.backends.blobs.s3.store import S3BlobStore

        store = S3BlobStore.from_url(server.storage_url)
        store.client.put_object(Bucket=store.bucket, Key=store.keys.blob(digest), Body=data)
    else:
        path = server.data_dir / "blobs" / "blobs" / "sha256" / digest[7:9] / digest[7:]
        path.write_bytes(data)


def test_verify_finds_and_quarantines_a_corrupt_blob(server: DockyardServer, verify) -> None:
    blobs = [pseudo_random_bytes(size, f"verify-{size}") for size in (10, 3 * MiB + 1, 100_000)]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for i, data in enumerate(blobs):
            ociapi.push_blob(http, "verify/good" if i else "verify/other", data)
        clean = verify()
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "verified 3 blobs" in clean.stdout and "all intact" in clean.stdout
        assert clean.stderr == ""  # no progress bar when stderr is not a terminal
        assert "verify   [" + "#" * 30 + "] 100%  3/3 blobs, 3 MB" in on_a_terminal(verify)

        bad = ociapi.sha256_digest(blobs[1])
        corrupt(server, bad, blobs[1][:-1] + b"!")
        found = verify()
        assert found.returncode == 1, found.stdout + found.stderr
        assert f"CORRUPT {bad}" in found.stdout and "1 corrupt" in found.stdout
        assert http.get(ociapi.blob_url("verify/good", bad)).status_code == 200  # not yet

        # Only the other repository's blob: intact.
        other = verify("--repository", "verify/other")
        assert other.returncode == 0 and "verified 1 blobs" in other.stdout, other.stdout

        repaired = verify("--repair")
        assert repaired.returncode == 1, repaired.stdout + repaired.stderr
        assert "moved to" in repaired.stdout and "(quarantined)" in repaired.stdout
        gone = http.get(ociapi.blob_url("verify/good", bad))
        assert gone.status_code == 404, ociapi.describe(gone)
        assert verify().returncode == 0

        ociapi.push_blob(http, "verify/good", blobs[1])  # pushing the right bytes restores it
        assert ociapi.fetch_blob(http, "verify/good", bad) == blobs[1]
