"""A blob GET proxied from S3 (no `--redirect-blobs`) streams: the server holds a bounded window
of the blob, whatever its size and however slowly the client reads.

The server's peak resident memory (VmHWM) is reset just before the GET (`/proc/<pid>/clear_refs`
= 5, Linux) and read after it. A server that read the object whole, or that ran ahead of a
client which pauses, would hold most of the blob. Speed is measured in
`benchmarks/s3_pull_bench.py`, not here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_s3_storage import serve
from tests.support import ociapi

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
BLOB = 32 * MiB
# The stream's window (a 1 MiB chunk or two in flight, transport and socket buffers; about
# 3 MiB measured) plus the allocator's slack: far below the blob.
BOUND = 12 * MiB


def _status_bytes(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def _reset_peak(pid: int) -> int:
    """Reset the kernel's high-water mark to the current RSS; the RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5\n")
    return _status_bytes(pid, "VmRSS")


def _read_with_a_pause(client: httpx.Client, url: str) -> bytes:
    """Read 8 MiB, stop reading for a second (a slow disk, a busy client), then the rest."""
    parts, received = [], 0
    with client.stream("GET", url) as response:
        assert response.status_code == 200
        paused = False
        for chunk in response.iter_raw(MiB):
            parts.append(chunk)
            received += len(chunk)
            if received >= 8 * MiB and not paused:
                paused = True
                time.sleep(1.0)
    return b"".join(parts)


def test_a_proxied_s3_blob_get_holds_a_bounded_window(moto, bucket):
    blob = os.urandom(BLOB)
    warm_up = b"small blob, to load the GET path's code before measuring"
    with serve(moto, bucket) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        for data in (blob, warm_up):
            ociapi.push_blob(client, "mem/s3", data)
        assert ociapi.fetch_blob(client, "mem/s3", ociapi.sha256_digest(warm_up)) == warm_up
        pid = server.process.pid
        before = _reset_peak(pid)
        body = _read_with_a_pause(client, ociapi.blob_url("mem/s3", ociapi.sha256_digest(blob)))
        growth = _status_bytes(pid, "VmHWM") - before
    assert len(body) == BLOB and body == blob
    assert growth < BOUND, f"the server's peak RSS grew by {growth / MiB:.1f} MiB"
