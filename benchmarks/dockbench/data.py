"""Test data, generated once per session into a temporary directory.

- ``BlobTemplate``: ``size - TAIL`` random bytes on disk plus the sha256 state of them. Each upload
  appends its own random ``TAIL`` bytes, so every uploaded blob has a distinct digest (no registry
  can skip work because it already holds the blob) while nothing large is regenerated or re-hashed.
- ``build_layout``: an OCI image layout directory (``oci:DIR:latest`` for skopeo) whose layers are
  real gzip streams (deflate *stored* blocks, i.e. level 0) of a tar holding incompressible bytes, with
  the usual ``tar+gzip`` media type, correct digests and ``diff_ids``.
- ``small_images``: tiny images (one 2 KiB layer, a config and a manifest) held in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
TAIL = 4096
BLOCK = 8 * MiB

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class BlobSource:
    """A blob to upload: a region of a file followed by an in-memory tail."""

    path: Path
    file_size: int
    tail: bytes
    digest: str

    @property
    def size(self) -> int:
        return self.file_size + len(self.tail)


@dataclass
class BlobTemplate:
    path: Path
    size: int
    _prefix: hashlib._Hash  # sha256 of the file's bytes

    def variant(self) -> BlobSource:
        tail = os.urandom(TAIL)
        h = self._prefix.copy()
        h.update(tail)
        return BlobSource(self.path, self.size - TAIL, tail, "sha256:" + h.hexdigest())


def make_blob_template(path: Path, size: int) -> BlobTemplate:
    h = hashlib.sha256()
    with open(path, "wb") as out:
        left = size - TAIL
        while left:
            chunk = os.urandom(min(BLOCK, left))
            h.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return BlobTemplate(path, size, h)


class _HashingFile:
    def __init__(self, out) -> None:
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.out.write(data)
        self.size += len(data)


class StoredGzip:
    """A gzip member made of deflate stored blocks: valid gzip, no compression, memcpy speed."""

    def __init__(self, out: _HashingFile) -> None:
        self.out, self.crc, self.isize = out, 0, 0
        self.raw_sha = hashlib.sha256()  # the layer's diff_id
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")

    def write(self, data: bytes) -> None:
        view, parts = memoryview(data), []
        for off in range(0, len(view), 65535):
            block = view[off : off + 65535]
            parts.append(struct.pack("<BHH", 0, len(block), len(block) ^ 0xFFFF))
            parts.append(block)
        self.out.write(b"".join(parts))
        self.crc = zlib.crc32(data, self.crc)
        self.isize += len(data)
        self.raw_sha.update(data)

    def close(self) -> None:
        self.out.write(struct.pack("<BHH", 1, 0, 0xFFFF))
        self.out.write(struct.pack("<II", self.crc, self.isize & 0xFFFFFFFF))


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Image:
    """An OCI layout on disk; ``ref`` is what skopeo takes as its source."""

    layout: Path
    layers: int
    total_bytes: int  # layers + config + manifest, what a push or pull moves

    @property
    def ref(self) -> str:
        return f"oci:{self.layout}:latest"


def _write_blob(layout: Path, data: bytes, media_type: str) -> Descriptor:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return Descriptor(media_type, "sha256:" + digest, len(data))


def _write_layer(layout: Path, source, offset: int, size: int, name: str) -> tuple[Descriptor, str]:
    """A tar.gz layer of ``size`` bytes read from ``source`` at ``offset``; returns it and its diff_id."""
    tmp = layout / "blobs" / "sha256" / ".tmp"
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 1_700_000_000
    with open(tmp, "wb") as out:
        hashed = _HashingFile(out)
        gz = StoredGzip(hashed)
        gz.write(info.tobuf(format=tarfile.USTAR_FORMAT))
        source.seek(offset)
        left = size
        while left:
            chunk = source.read(min(BLOCK, left))
            if not chunk:
                raise ValueError(f"{source.name} is too short for this layer")
            gz.write(chunk)
            left -= len(chunk)
        gz.write(b"\0" * (-size % 512 + 1024))  # pad the member, then the end-of-archive blocks
        gz.close()
    digest = hashed.sha.hexdigest()
    tmp.rename(layout / "blobs" / "sha256" / digest)
    desc = Descriptor(OCI_LAYER_GZIP, "sha256:" + digest, hashed.size)
    return desc, "sha256:" + gz.raw_sha.hexdigest()


def build_layout(layout: Path, random_file: Path, total: int, n_layers: int) -> Image:
    """An image whose layers add up to about ``total`` bytes, cut from ``random_file``.

    Layers of different images may hold the same random bytes, but their digests all differ
    (different tar names and framing) and nothing in a push or pull compresses or deduplicates
    below the blob level, so the reuse costs neither registry anything.
    """
    (layout / "blobs" / "sha256").mkdir(parents=True)
    per_layer = total // n_layers - 2 * TAIL  # room for tar and gzip framing; stays inside the file
    layers, diff_ids = [], []
    with open(random_file, "rb") as source:
        for i in range(n_layers):
            desc, diff_id = _write_layer(layout, source, i * per_layer, per_layer, f"data/{i}.bin")
            layers.append(desc)
            diff_ids.append(diff_id)
    config = _write_blob(layout, _config_json(diff_ids), OCI_CONFIG)
    manifest = _write_blob(layout, _manifest_json(config, layers), OCI_MANIFEST)
    _write_index(layout, manifest)
    total_bytes = sum(d.size for d in layers) + config.size + manifest.size
    return Image(layout, n_layers, total_bytes)


def _config_json(diff_ids: list[str]) -> bytes:
    config = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "dockyard benchmark"} for _ in diff_ids],
    }
    return json.dumps(config, separators=(",", ":")).encode()


def _manifest_json(config: Descriptor, layers: list[Descriptor]) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [d.to_json() for d in layers],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def _write_index(layout: Path, manifest: Descriptor) -> None:
    entry = manifest.to_json() | {"annotations": {"org.opencontainers.image.ref.name": "latest"}}
    index = {"schemaVersion": 2, "manifests": [entry]}
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def _tar_of(content: bytes) -> bytes:
    info = tarfile.TarInfo("data.bin")
    info.size, info.mode, info.mtime = len(content), 0o644, 1_700_000_000
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    return header + content + b"\0" * (-len(content) % 512 + 1024)


@dataclass(frozen=True)
class SmallImage:
    blobs: list[tuple[str, bytes]]  # (digest, bytes): the layer, then the config
    manifest: bytes
    manifest_type: str = OCI_MANIFEST


def small_images(count: int, layer_size: int = 2048) -> list[SmallImage]:
    images = []
    for _ in range(count):
        payload = _tar_of(os.urandom(layer_size))
        raw = hashlib.sha256(payload).hexdigest()
        gz = zlib.compress(payload, 0, wbits=31)
        layer = Descriptor(OCI_LAYER_GZIP, "sha256:" + hashlib.sha256(gz).hexdigest(), len(gz))
        cfg = _config_json(["sha256:" + raw])
        config = Descriptor(OCI_CONFIG, "sha256:" + hashlib.sha256(cfg).hexdigest(), len(cfg))
        manifest = _manifest_json(config, [layer])
        images.append(SmallImage([(layer.digest, gz), (config.digest, cfg)], manifest))
    return images
