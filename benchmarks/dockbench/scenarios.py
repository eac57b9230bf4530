"""One function per measured scenario. Each returns ``{metric: value}`` for one run on one server.

Timed sections cover exactly the client's view of the operation (first request sent to last
response read). Server CPU is read from /proc before the operation and again after it plus a short
settle, so work a server defers until just after answering is still counted. ``os.sync()`` runs
before every scenario so one registry's dirty pages are not flushed on the other's time.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from . import procstat
from .client import Client, RegistryError, timed
from .data import BlobTemplate, Image, SmallImage
from .servers import Server

GiB = 1 << 30
SETTLE = 0.25  # seconds to let a server finish post-response work before reading its CPU


@dataclass
class Dataset:
    blob: BlobTemplate
    images: dict[int, Image]  # by layer count
    small: list[SmallImage]
    scratch: Path  # for skopeo pull destinations (tmpfs when available)


@dataclass
class Context:
    server: Server
    data: Dataset
    run: int
    state: dict = field(default_factory=dict)


class ServerCpu:
    """CPU seconds the server tree spends between ``__enter__`` and ``__exit__`` (+ settle)."""

    def __init__(self, server: Server) -> None:
        self.pid, self.seconds = server.pid, 0.0

    def __enter__(self) -> Self:
        self._start = procstat.cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(SETTLE)
        self.seconds = procstat.cpu_seconds(self.pid) - self._start


def _mb_per_s(nbytes: int, seconds: float) -> float:
    return nbytes / 1e6 / seconds


def _upload(ctx: Context, key: str, method: str) -> dict[str, float]:
    src = ctx.data.blob.variant()
    repo = f"bench/{key}"
    client = Client(ctx.server.address)
    try:
        with ServerCpu(ctx.server) as cpu:
            wall, client_cpu, _ = timed(getattr(client, method), repo, src)
    finally:
        client.close()
    ctx.state.setdefault("blob", (repo, src))
    return {
        f"{key}_mbps": _mb_per_s(src.size, wall),
        f"{key}_s": wall,
        f"{key}_cpu_s_per_gib": cpu.seconds / (src.size / GiB),
        f"{key}_client_cpu_pct": 100 * client_cpu / wall,
    }


def upload_mono(ctx: Context) -> dict[str, float]:
    return _upload(ctx, "upload_mono", "put_monolithic")


def upload_chunked(ctx: Context) -> dict[str, float]:
    return _upload(ctx, "upload_chunked", "put_chunked")


def download(ctx: Context) -> dict[str, float]:
    """Two GETs of the blob just uploaded: the first reads what the upload left behind (in
    the page cache for a registry that wrote through it, from disk for one that wrote with
    direct I/O), the second is served from the page cache by both."""
    if "blob" not in ctx.state:  # run alone: upload one first, untimed
        _upload(ctx, "upload_mono", "put_monolithic")
        os.sync()
    repo, src = ctx.state["blob"]
    out: dict[str, float] = {}
    for prefix in ("download_first", "download"):
        out |= _timed_get(ctx, repo, src, prefix)
    return out


def _timed_get(ctx: Context, repo: str, src, prefix: str) -> dict[str, float]:
    client = Client(ctx.server.address)
    try:
        with ServerCpu(ctx.server) as cpu:
            wall, client_cpu, got = timed(client.get_blob, repo, src.digest)
    finally:
        client.close()
    if got != src.size:
        raise RegistryError(f"GET blob returned {got} bytes, expected {src.size}")
    return {
        f"{prefix}_mbps": _mb_per_s(src.size, wall),
        f"{prefix}_s": wall,
        f"{prefix}_cpu_s_per_gib": cpu.seconds / (src.size / GiB),
        f"{prefix}_client_cpu_pct": 100 * client_cpu / wall,
    }


def _skopeo(*args: str, timeout: float = 900) -> float:
    cmd = ["skopeo", "copy", "--quiet", "--preserve-digests", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RegistryError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-800:]}")
    return wall


def _layout_manifest_digest(layout: Path) -> str:
    return json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]


def _registry_manifest_digest(ctx: Context, repo: str) -> str:
    client = Client(ctx.server.address)
    try:
        accept = "application/vnd.oci.image.manifest.v1+json"
        resp = client.request("HEAD", f"/v2/{repo}/manifests/latest", headers={"Accept": accept})
    finally:
        client.close()
    return resp.headers.get("Docker-Content-Digest", f"<HTTP {resp.status}, no digest>")


def skopeo_image(ctx: Context, layers: int) -> dict[str, float]:
    """Push the layout to the registry, then pull it back into a fresh OCI layout (tmpfs)."""
    image, key = ctx.data.images[layers], f"skopeo{layers}"
    repo = f"bench/img{layers}-r{ctx.run}"
    ref = f"docker://{ctx.server.address}/{repo}:latest"
    dest = ctx.data.scratch / f"pull-{ctx.server.registry.name}-{layers}-{ctx.run}"
    expected = _layout_manifest_digest(image.layout)
    try:
        with ServerCpu(ctx.server) as push_cpu:
            push = _skopeo("--dest-tls-verify=false", image.ref, ref)
        _check_digest("push", expected, _registry_manifest_digest(ctx, repo))
        ctx.state[f"pushed{layers}"] = repo  # podman-N pulls it again
        os.sync()
        with ServerCpu(ctx.server) as pull_cpu:
            pull = _skopeo("--src-tls-verify=false", ref, f"oci:{dest}:latest")
        _check_digest("pull", expected, _layout_manifest_digest(dest))
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    return {
        f"{key}_push_s": push,
        f"{key}_push_mbps": _mb_per_s(image.total_bytes, push),
        f"{key}_push_cpu_s_per_gib": push_cpu.seconds / (image.total_bytes / GiB),
        f"{key}_pull_s": pull,
        f"{key}_pull_mbps": _mb_per_s(image.total_bytes, pull),
        f"{key}_pull_cpu_s_per_gib": pull_cpu.seconds / (image.total_bytes / GiB),
    }


def _check_digest(what: str, expected: str, got: str) -> None:
    """skopeo must move the image unchanged (no recompression, no manifest conversion)."""
    if got != expected:
        raise RegistryError(f"skopeo {what} changed the manifest digest: {expected} -> {got}")


def small_parallel(ctx: Context, clients: int = 4) -> dict[str, float]:
    """All small images pushed by ``clients`` threads, each with its own keep-alive connection;
    each client pushes into its own repository (created by its first push)."""
    images, counter, lock = ctx.data.small, itertools.count(), threading.Lock()
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        client = Client(ctx.server.address)
        try:
            while True:
                with lock:
                    i = next(counter)
                if i >= len(images) or errors:
                    return
                client.push_image(f"small-r{ctx.run}/c{k}", f"i{i}", images[i])
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread after join
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    with ServerCpu(ctx.server) as cpu:
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return {
        "small_images_per_s": len(images) / wall,
        "small_s": wall,
        "small_cpu_ms_per_image": 1000 * cpu.seconds / len(images),
    }


SCENARIOS: dict[str, Callable[[Context], dict[str, float]]] = {
    "upload-mono": upload_mono,
    "upload-chunked": upload_chunked,
    "download": download,
    "skopeo-1": lambda ctx: skopeo_image(ctx, 1),
    "skopeo-20": lambda ctx: skopeo_image(ctx, 20),
    "small-parallel": small_parallel,
}
