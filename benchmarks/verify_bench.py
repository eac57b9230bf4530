"""How fast `dockyard verify` re-hashes a filesystem blob store, on one core.

    python benchmarks/verify_bench.py [--gib 3] [--blob-mib 256] [--runs 3] [--tmpdir DIR]

Fills a fresh store with incompressible blobs (through the store's own upload API), then times
`BlobVerifier.verify` over all of them, single-threaded, and prints MB/s beside hashlib's own
speed on an in-memory buffer (the ceiling) on this machine. The first pass may read from the
disk (the blobs were written with direct I/O); later passes come from the page cache, as the
free memory allows. CPU time is the process's own: on a loaded machine the wall clock lies.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from dockyard.backends.blobs.fs.store import FilesystemBlobStore
from dockyard.services.verify import BlobVerifier

MiB = 1024 * 1024
MB = 1_000_000


class Quiet:
    def start(self, blobs: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def blob_done(self) -> None: ...


def fill(store: FilesystemBlobStore, total: int, blob: int) -> int:
    chunk = os.urandom(8 * MiB)
    made = 0
    for i in range(total // blob):
        upload = f"bench-{i}"
        store.start_upload(upload)
        writer = store.open_upload(upload, 0)
        hasher = hashlib.sha256()
        salt = i.to_bytes(8, "big")
        for _ in range(blob // len(chunk)):
            piece = salt + chunk[8:]
            writer.write(piece)
            hasher.update(piece)
        writer.close()
        store.publish_upload(upload, [writer.segment], "sha256:" + hasher.hexdigest(), blob)
        store.abort_upload(upload)
        made += blob
    return made


def hashlib_ceiling() -> float:
    data = os.urandom(256 * MiB)
    started = time.process_time()
    hashlib.sha256(data).hexdigest()
    return len(data) / MB / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=3.0)
    parser.add_argument("--blob-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tmpdir", default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="verify-bench-", dir=args.tmpdir))
    try:
        store = FilesystemBlobStore(root)
        store.probe()
        total = fill(store, int(args.gib * 1024 * MiB), args.blob_mib * MiB)
        verifier = BlobVerifier(None, store, None)  # type: ignore[arg-type]
        digests = list(store.list())
        print(
            f"{len(digests)} blobs, {total / MB:,.0f} MB; hashlib sha256 in memory: "
            f"{hashlib_ceiling():,.0f} MB/s (CPU)"
        )
        for run in range(args.runs):
            wall, cpu = time.perf_counter(), time.process_time()
            report = verifier.verify(digests, False, Quiet())
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert report.clean and report.bytes_read == total
            print(
                f"run {run + 1}: {total / MB / wall:,.0f} MB/s wall, "
                f"{total / MB / cpu:,.0f} MB/s per CPU-second ({cpu:.2f} s CPU, {wall:.2f} s)"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
