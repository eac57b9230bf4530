"""Pull scenarios beyond the first and second GET (scenarios.py): how layers are pulled in practice.

    download-cold        GET of a blob pushed "long ago": the page cache is dropped first
                         (root only: `sync; echo 3 > /proc/sys/vm/drop_caches`), for both
                         registries alike
    concurrent-same      CLIENTS clients GET the same blob at once (one CI fleet, one layer)
    concurrent-distinct  CLIENTS clients each GET a different blob, pushed just before (untimed),
                         of size / CLIENTS each, so the bytes served equal one blob's
    podman-1, podman-20  `podman pull` of the image skopeo pushed (pushed here if skopeo-N did
                         not run), into a private storage root under the scratch directory

Concurrent figures are aggregate: all bytes served over the wall time from the first request
to the last byte; server CPU per GiB served.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .client import Client, RegistryError
from .data import TAIL, BlobSource
from .scenarios import Context, GiB, ServerCpu, _mb_per_s, _skopeo, _timed_get

CLIENTS = 16
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def drop_page_cache() -> None:
    os.sync()
    try:
        DROP_CACHES.write_text("3\n")
    except OSError as exc:
        raise RegistryError(f"cold pulls need root to drop the page cache: {exc}") from exc


def _pushed_blob(ctx: Context) -> tuple[str, BlobSource]:
    """The blob an earlier scenario pushed, or one pushed now (untimed)."""
    if "blob" not in ctx.state:
        src = ctx.data.blob.variant()
        _push(ctx, "bench/pulls", src)
        ctx.state["blob"] = ("bench/pulls", src)
    return ctx.state["blob"]


def _push(ctx: Context, repo: str, src: BlobSource) -> None:
    client = Client(ctx.server.address)
    try:
        client.put_monolithic(repo, src)
    finally:
        client.close()


def download_cold(ctx: Context) -> dict[str, float]:
    repo, src = _pushed_blob(ctx)
    drop_page_cache()
    return _timed_get(ctx, repo, src, "download_cold")


def _parallel_gets(ctx: Context, targets: list[tuple[str, BlobSource]], key: str) -> dict:
    """Every target fetched by its own client thread, released together by a barrier."""
    start, errors = threading.Barrier(len(targets) + 1), []

    def fetch(repo: str, src: BlobSource) -> None:
        client = Client(ctx.server.address)
        try:
            start.wait()
            if client.get_blob(repo, src.digest) != src.size:
                raise RegistryError(f"GET {src.digest}: short body")
        except BaseException as exc:  # noqa: BLE001 - re-raised after join
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=fetch, args=t) for t in targets]
    for t in threads:
        t.start()
    with ServerCpu(ctx.server) as cpu:
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    total = sum(src.size for _, src in targets)
    return {
        f"{key}_mbps": _mb_per_s(total, wall),
        f"{key}_s": wall,
        f"{key}_cpu_s_per_gib": cpu.seconds / (total / GiB),
    }


def concurrent_same(ctx: Context) -> dict[str, float]:
    target = _pushed_blob(ctx)
    return _parallel_gets(ctx, [target] * CLIENTS, "concurrent_same")


def concurrent_distinct(ctx: Context) -> dict[str, float]:
    sources = _slices(ctx.data.blob.path, ctx.data.blob.size // CLIENTS, CLIENTS)
    repo = f"bench/distinct-r{ctx.run}"
    for src in sources:
        _push(ctx, repo, src)
    os.sync()
    return _parallel_gets(ctx, [(repo, s) for s in sources], "concurrent_distinct")


def _slices(path: Path, size: int, count: int) -> list[BlobSource]:
    """`count` distinct blobs of `size` bytes: the template file's prefix plus a random tail."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = size - TAIL
        while left:
            chunk = f.read(min(left, 8 << 20))
            h.update(chunk)
            left -= len(chunk)
    out = []
    for _ in range(count):
        tail, digest = os.urandom(TAIL), h.copy()
        digest.update(tail)
        out.append(BlobSource(path, size - TAIL, tail, "sha256:" + digest.hexdigest()))
    return out


def podman_image(ctx: Context, layers: int) -> dict[str, float]:
    image, key = ctx.data.images[layers], f"podman{layers}"
    repo = f"bench/img{layers}-r{ctx.run}"
    ref = f"{ctx.server.address}/{repo}:latest"
    if ctx.state.get(f"pushed{layers}") != repo:
        _skopeo("--dest-tls-verify=false", image.ref, f"docker://{ref}")
    os.sync()
    store = ctx.data.scratch / f"podman-{ctx.server.registry.name}-{layers}-{ctx.run}"
    try:
        with ServerCpu(ctx.server) as cpu:
            wall = _podman_pull(store, ref)
    finally:
        shutil.rmtree(store, ignore_errors=True)
    return {
        f"{key}_pull_s": wall,
        f"{key}_pull_mbps": _mb_per_s(image.total_bytes, wall),
        f"{key}_pull_cpu_s_per_gib": cpu.seconds / (image.total_bytes / GiB),
    }


def _podman_pull(store: Path, ref: str, timeout: float = 900) -> float:
    # podman refuses a runroot path longer than 50 characters.
    runroot = tempfile.mkdtemp(prefix="pdrun")
    cmd = [
        "podman",
        "--root",
        str(store / "root"),
        "--runroot",
        runroot,
        "--storage-driver",
        "vfs",
        "pull",
        "--quiet",
        "--tls-verify=false",
        ref,
    ]
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=os.environ | {"TMPDIR": str(store)},
        )
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(runroot, ignore_errors=True)
    if proc.returncode:
        raise RegistryError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-800:]}")
    return wall


PULL_SCENARIOS = {
    "download-cold": download_cold,
    "concurrent-same": concurrent_same,
    "concurrent-distinct": concurrent_distinct,
    "podman-1": lambda ctx: podman_image(ctx, 1),
    "podman-20": lambda ctx: podman_image(ctx, 20),
}
