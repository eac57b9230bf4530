"""Build container images and OCI artifacts offline, byte for byte reproducible.

Structure of what this module produces::

    layer files  --build_layer-->  Layer (tar, compressed blob, diff_id)
    [Layer, ...] --build_image-->  Image (config blob + manifest bytes)
    [Image, ...] --build_index-->  Index (OCI index or Docker manifest list)
    files        --build_artifact-> Image (OCI 1.1 artifact: artifactType, empty config, subject)
    {tag: Image | Index} --write_layout--> OCI image layout directory (`oci:DIR:TAG` for skopeo)
    Image | Index        --write_dir-----> skopeo `dir:DIR` (the way in for Docker media types)

A layer is described by a file map: ``{"etc/os-release": b"...", "bin/sh": Symlink("busybox"),
"var/cache": Dir(), "old/file": WHITEOUT, "opt/data": OPAQUE}``. Values may be ``bytes`` or the
small entry types below. Parent directories are added implicitly (as real layers have them).

Everything is deterministic: tar headers use a fixed mtime, uid/gid and ordering; gzip headers
carry no timestamp or name; JSON is serialised with fixed key order and separators. The same
inputs therefore give the same digests on every machine and run, which lets tests hard-code
nothing and still compare digests across push and pull.

Nothing here imports the server: these are the client side's bytes, independent of Dockyard.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal

__all__ = [
    "DIR_DEFAULT",
    "EMPTY_CONFIG",
    "OPAQUE",
    "WHITEOUT",
    "Blob",
    "Dir",
    "File",
    "Hardlink",
    "Image",
    "Index",
    "Layer",
    "MediaTypes",
    "Platform",
    "Symlink",
    "build_artifact",
    "build_image",
    "build_index",
    "build_layer",
    "canonical_json",
    "compress",
    "descriptor",
    "digest_of",
    "image_config",
    "layer_tar",
    "layout_blob",
    "layout_manifest",
    "ordered_layer_tar",
    "pseudo_random_bytes",
    "write_dir",
    "write_layout",
]

Compression = Literal["gzip", "zstd", "none"]
Flavor = Literal["oci", "docker"]

# Fixed timestamp for tar entries and the config's `created`: 2000-01-01T00:00:00Z. Not 0, because
# some tools treat mtime 0 as "unset" and substitute the current time.
EPOCH = 946684800
CREATED = "2000-01-01T00:00:00Z"


class MediaTypes:
    """Media types of both image formats; Docker schema 2 has no zstd layer type."""

    OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
    OCI_INDEX = "application/vnd.oci.image.index.v1+json"
    OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
    OCI_EMPTY = "application/vnd.oci.empty.v1+json"
    OCI_LAYER: ClassVar[dict[str, str]] = {
        "none": "application/vnd.oci.image.layer.v1.tar",
        "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
        "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    }
    DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
    DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
    DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
    DOCKER_LAYER: ClassVar[dict[str, str]] = {
        "none": "application/vnd.docker.image.rootfs.diff.tar",
        "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
    }


# --------------------------------------------------------------------------- layer entries


@dataclass(frozen=True)
class File:
    """A regular file with explicit mode/ownership (plain ``bytes`` means mode 0644, root)."""

    data: bytes
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Dir:
    """An explicit directory entry (needed for empty directories or unusual modes)."""

    mode: int = 0o755
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Symlink:
    """A symbolic link pointing at ``target`` (relative or absolute, stored verbatim)."""

    target: str


@dataclass(frozen=True)
class Hardlink:
    """A hard link to another path of the same layer (``target`` is a layer path)."""

    target: str


class _Marker:
    """Singleton entry markers, printable so failing tests show what they meant."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


# `path: WHITEOUT` deletes `path` from lower layers (`.wh.<name>` entry).
WHITEOUT = _Marker("WHITEOUT")
# `dir: OPAQUE` hides everything lower layers put in `dir` (`dir/.wh..wh..opq` entry).
OPAQUE = _Marker("OPAQUE")
DIR_DEFAULT = Dir()

Entry = bytes | File | Dir | Symlink | Hardlink | _Marker


# --------------------------------------------------------------------------- blobs


def digest_of(data: bytes) -> str:
    """The ``sha256:<hex>`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: Any, indent: int | None = None) -> bytes:
    """Serialise JSON deterministically (key order as given; compact unless ``indent``)."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(value, indent=indent, separators=separators, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Blob:
    """Content-addressed bytes with the media type (and annotations) a descriptor of them carries.

    ``annotations`` are descriptor annotations, e.g. an artifact file's title, not content.
    """

    media_type: str
    data: bytes
    annotations: Mapping[str, str] | None = None

    @property
    def digest(self) -> str:
        return digest_of(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        """An OCI descriptor of this blob; ``extra`` adds fields such as ``platform``."""
        annotations = dict(self.annotations) if self.annotations else None
        return descriptor(self.media_type, self.data, **{"annotations": annotations, **extra})


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    """An OCI descriptor (mediaType, digest, size, then any ``extra`` fields)."""
    out: dict[str, Any] = {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


@dataclass(frozen=True)
class Layer:
    """A built layer: the uncompressed tar (``diff_id`` is its digest) and the pushed blob."""

    tar: bytes
    blob: Blob

    @property
    def diff_id(self) -> str:
        return digest_of(self.tar)


@dataclass(frozen=True)
class Platform:
    """Where an image runs; ``variant`` only when it matters (arm/v7, arm64/v8)."""

    architecture: str = "amd64"
    os: str = "linux"
    variant: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out


@dataclass(frozen=True)
class Image:
    """One manifest with its config and layers (``layers`` excludes the config)."""

    manifest: Blob
    config: Blob
    layers: tuple[Blob, ...]
    platform: Platform | None = None

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def blobs(self) -> tuple[Blob, ...]:
        """Every blob the manifest references, config first."""
        return (self.config, *self.layers)

    @property
    def manifest_json(self) -> dict[str, Any]:
        return json.loads(self.manifest.data)


@dataclass(frozen=True)
class Index:
    """An OCI image index or Docker manifest list and the images it points at."""

    manifest: Blob
    images: tuple[Image, ...] = field(default=())

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def blobs(self) -> tuple[Blob, ...]:
        """Child manifests and all their blobs (deduplicated, order kept)."""
        seen: dict[str, Blob] = {}
        for image in self.images:
            for blob in (image.manifest, *image.blobs):
                seen.setdefault(blob.digest, blob)
        return tuple(seen.values())

    @property
    def manifest_json(self) -> dict[str, Any]:
        return json.loads(self.manifest.data)


# --------------------------------------------------------------------------- layers


def _tar_info(name: str, kind: bytes, mode: int, uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
    """A tar header with every variable field pinned (mtime, owner names, ids)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = EPOCH
    info.uid, info.gid = uid, gid
    info.uname = info.gname = ""
    return info


def _tar_name(path: str, entry: Entry) -> str:
    """The member name: the path itself, or the OCI layer spec's whiteout names for markers."""
    pure = PurePosixPath(path)
    if entry is OPAQUE:
        return str(pure / ".wh..wh..opq")
    if entry is WHITEOUT:
        return (
            str(pure.parent / f".wh.{pure.name}") if str(pure.parent) != "." else f".wh.{pure.name}"
        )
    return path


def _members(files: Mapping[str, Entry]) -> dict[str, Entry]:
    """Tar member name -> entry, with implicit parent directories added (real layers have them).

    Sorting member names puts every directory before its children, as extractors expect; hard
    links go last so their targets already exist when they are extracted.
    """
    members: dict[str, Entry] = {}
    for raw, entry in files.items():
        path = raw.strip("/")
        parents = PurePosixPath(_tar_name(path, entry)).parents
        for parent in reversed(parents[:-1]):
            members.setdefault(str(parent), DIR_DEFAULT)
        members[_tar_name(path, entry)] = entry
    return dict(sorted(members.items(), key=lambda m: (isinstance(m[1], Hardlink), m[0])))


def _add_entry(tar: tarfile.TarFile, name: str, entry: Entry) -> None:
    """Write one member; every entry kind maps to exactly one tar header."""
    if isinstance(entry, _Marker):
        tar.addfile(_tar_info(name, tarfile.REGTYPE, 0o644))
    elif isinstance(entry, Dir):
        tar.addfile(_tar_info(name + "/", tarfile.DIRTYPE, entry.mode, entry.uid, entry.gid))
    elif isinstance(entry, Symlink):
        info = _tar_info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = entry.target
        tar.addfile(info)
    elif isinstance(entry, Hardlink):
        info = _tar_info(name, tarfile.LNKTYPE, 0o644)
        info.linkname = entry.target.strip("/")
        tar.addfile(info)
    else:
        file = entry if isinstance(entry, File) else File(bytes(entry))
        info = _tar_info(name, tarfile.REGTYPE, file.mode, file.uid, file.gid)
        info.size = len(file.data)
        tar.addfile(info, io.BytesIO(file.data))


def layer_tar(files: Mapping[str, Entry]) -> bytes:
    """The uncompressed tar of a file map, entries sorted so parents precede children."""
    buffer = io.BytesIO()
    # PAX keeps long names and large ids exact; GNU/ustar would truncate or fail.
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, entry in _members(files).items():
            _add_entry(tar, name, entry)
    return buffer.getvalue()


def ordered_layer_tar(entries: Iterable[tuple[str, Entry]]) -> bytes:
    """A tar of exactly these members in this order (no implicit parents, no sorting).

    For layers real tools write in their own order, e.g. an opaque marker after its siblings.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, entry in entries:
            _add_entry(tar, _tar_name(path.strip("/"), entry), entry)
    return buffer.getvalue()


def compress(data: bytes, compression: Compression, level: int = 6) -> bytes:
    """Compress deterministically: gzip without name/mtime, zstd without content size quirks."""
    if compression == "none":
        return data
    if compression == "gzip":
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=level) as gz:
            gz.write(data)
        return out.getvalue()
    if compression == "zstd":
        # Imported lazily: only zstd layers need the `zstandard` package.
        import zstandard

        return zstandard.ZstdCompressor(level=3, write_content_size=True).compress(data)
    raise ValueError(f"unknown compression {compression!r}")


def build_layer(
    files: Mapping[str, Entry],
    compression: Compression = "gzip",
    flavor: Flavor = "oci",
    level: int = 6,
) -> Layer:
    """Build one layer from a file map; ``flavor`` picks OCI or Docker media types."""
    table = MediaTypes.OCI_LAYER if flavor == "oci" else MediaTypes.DOCKER_LAYER
    if compression not in table:
        raise ValueError(f"{flavor} images have no {compression} layer media type")
    tar = layer_tar(files)
    return Layer(tar=tar, blob=Blob(table[compression], compress(tar, compression, level)))


# --------------------------------------------------------------------------- images


def image_config(
    layers: Iterable[Layer],
    platform: Platform,
    config: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An image config whose ``rootfs.diff_ids`` and ``history`` match ``layers``."""
    layers = list(layers)
    runtime: dict[str, Any] = {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    }
    runtime.update(config or {})
    if labels:
        runtime["Labels"] = dict(labels)
    return {
        "created": CREATED,
        **platform.as_dict(),
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [
            {"created": CREATED, "created_by": f"dockyard-tests layer {i}"}
            for i in range(len(layers))
        ],
    }


def build_image(
    layers: Iterable[Mapping[str, Entry] | Layer],
    *,
    platform: Platform = Platform(),
    flavor: Flavor = "oci",
    compression: Compression = "gzip",
    config: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    subject: Mapping[str, Any] | None = None,
    indent: int | None = None,
) -> Image:
    """Build an image manifest from file maps (or prebuilt ``Layer``s) and a matching config.

    ``flavor="docker"`` gives a Docker schema 2 manifest (no annotations or subject there).
    ``indent`` pretty-prints the manifest, which checks that registries keep bytes verbatim.
    """
    built = [ly if isinstance(ly, Layer) else build_layer(ly, compression, flavor) for ly in layers]
    config_type = MediaTypes.OCI_CONFIG if flavor == "oci" else MediaTypes.DOCKER_CONFIG
    config_blob = Blob(config_type, canonical_json(image_config(built, platform, config, labels)))
    manifest = _manifest_json(flavor, config_blob, [ly.blob for ly in built], annotations, subject)
    manifest_type = MediaTypes.OCI_MANIFEST if flavor == "oci" else MediaTypes.DOCKER_MANIFEST
    return Image(
        manifest=Blob(manifest_type, canonical_json(manifest, indent)),
        config=config_blob,
        layers=tuple(ly.blob for ly in built),
        platform=platform,
    )


def _manifest_json(
    flavor: Flavor,
    config: Blob,
    layers: list[Blob],
    annotations: Mapping[str, str] | None,
    subject: Mapping[str, Any] | None,
    artifact_type: str | None = None,
) -> dict[str, Any]:
    """The manifest document, fields in the order the specs list them."""
    if flavor == "docker" and (annotations or subject or artifact_type):
        raise ValueError("Docker schema 2 manifests have no annotations, subject or artifactType")
    media_type = MediaTypes.OCI_MANIFEST if flavor == "oci" else MediaTypes.DOCKER_MANIFEST
    manifest: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        manifest["artifactType"] = artifact_type
    manifest["config"] = config.descriptor()
    manifest["layers"] = [blob.descriptor() for blob in layers]
    if subject:
        manifest["subject"] = dict(subject)
    if annotations:
        manifest["annotations"] = dict(annotations)
    return manifest


def build_index(
    images: Iterable[Image],
    *,
    flavor: Flavor = "oci",
    annotations: Mapping[str, str] | None = None,
    artifact_type: str | None = None,
    subject: Mapping[str, Any] | None = None,
    indent: int | None = None,
) -> Index:
    """An OCI index or Docker manifest list over ``images`` (each with its platform)."""
    images = tuple(images)
    if flavor == "docker" and (annotations or artifact_type or subject):
        raise ValueError("Docker manifest lists have no annotations, artifactType or subject")
    media_type = MediaTypes.OCI_INDEX if flavor == "oci" else MediaTypes.DOCKER_LIST
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        document["artifactType"] = artifact_type
    document["manifests"] = [
        image.manifest.descriptor(platform=image.platform.as_dict() if image.platform else None)
        for image in images
    ]
    if subject:
        document["subject"] = dict(subject)
    if annotations:
        document["annotations"] = dict(annotations)
    return Index(manifest=Blob(media_type, canonical_json(document, indent)), images=images)


# The OCI 1.1 empty descriptor's content: artifacts without a config point at `{}`.
EMPTY_CONFIG = Blob(MediaTypes.OCI_EMPTY, b"{}")


def build_artifact(
    files: Mapping[str, bytes],
    *,
    artifact_type: str,
    file_media_type: str = "application/octet-stream",
    subject: Image | Index | Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Image:
    """An OCI 1.1 artifact manifest: ``artifactType``, empty config, one layer per file.

    Files are named by ``org.opencontainers.image.title`` annotations, as oras names them, so
    oras can pull them back to files. ``subject`` may be an ``Image``/``Index`` or a descriptor.
    """
    blobs = [
        Blob(file_media_type, data, {"org.opencontainers.image.title": name})
        for name, data in sorted(files.items())
    ]
    if isinstance(subject, (Image, Index)):
        subject = subject.manifest.descriptor()
    manifest = _manifest_json("oci", EMPTY_CONFIG, list(blobs), annotations, subject, artifact_type)
    return Image(
        manifest=Blob(MediaTypes.OCI_MANIFEST, canonical_json(manifest)),
        config=EMPTY_CONFIG,
        layers=tuple(blobs),
    )


# --------------------------------------------------------------------------- layout


def _write_blob(root: Path, blob: Blob) -> None:
    """Store a blob under ``blobs/sha256/<hex>`` (content-addressed, so rewriting is a no-op)."""
    algorithm, hex_digest = blob.digest.split(":")
    path = root / "blobs" / algorithm / hex_digest
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(blob.data)


def write_layout(root: Path | str, refs: Mapping[str, Image | Index]) -> Path:
    """Write (or extend) an OCI image layout at ``root``; ``refs`` maps tag -> image or index.

    Tags become ``org.opencontainers.image.ref.name`` annotations in ``index.json``, which is what
    ``skopeo ... oci:ROOT:TAG`` looks up. Existing entries for other tags are kept.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    entries = _existing_entries(root, set(refs))
    for tag, target in refs.items():
        for blob in (target.manifest, *target.blobs):
            _write_blob(root, blob)
        ref = {"org.opencontainers.image.ref.name": tag}
        entries.append(target.manifest.descriptor(annotations=ref))
    index = {"schemaVersion": 2, "mediaType": MediaTypes.OCI_INDEX, "manifests": entries}
    (root / "index.json").write_bytes(canonical_json(index))
    return root


def write_dir(root: Path | str, target: Image | Index) -> Path:
    """Write one image or index in skopeo's ``dir:`` transport format.

    skopeo 1.9 reads only OCI media types from an OCI layout, so Docker schema 2 manifests and
    manifest lists reach it through ``dir:`` instead, which keeps any manifest verbatim: the
    top manifest is ``manifest.json``, child manifests ``<hex>.manifest.json``, blobs ``<hex>``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "version").write_text("Directory Transport Version: 1.1\n")
    (root / "manifest.json").write_bytes(target.manifest.data)
    for blob in target.blobs:
        hex_digest = blob.digest.split(":")[1]
        is_manifest = blob.media_type in _MANIFEST_TYPES
        (root / (f"{hex_digest}.manifest.json" if is_manifest else hex_digest)).write_bytes(
            blob.data
        )
    return root


_MANIFEST_TYPES = frozenset(
    {
        MediaTypes.OCI_MANIFEST,
        MediaTypes.OCI_INDEX,
        MediaTypes.DOCKER_MANIFEST,
        MediaTypes.DOCKER_LIST,
    }
)


def layout_blob(root: Path | str, digest: str) -> bytes:
    """A blob's bytes from an OCI layout (e.g. one skopeo pulled into)."""
    algorithm, hex_digest = digest.split(":")
    return (Path(root) / "blobs" / algorithm / hex_digest).read_bytes()


def layout_manifest(root: Path | str, tag: str) -> bytes:
    """The exact manifest bytes an OCI layout's ``index.json`` names ``tag``."""
    index = json.loads((Path(root) / "index.json").read_bytes())
    ref = "org.opencontainers.image.ref.name"
    matches = [e for e in index["manifests"] if (e.get("annotations") or {}).get(ref) == tag]
    if len(matches) != 1:
        raise LookupError(f"{root}: {len(matches)} index.json entries for tag {tag!r}")
    return layout_blob(root, matches[0]["digest"])


def _existing_entries(root: Path, replaced: set[str]) -> list[dict[str, Any]]:
    """Entries of an existing ``index.json`` whose tag is not being replaced."""
    path = root / "index.json"
    if not path.exists():
        return []
    entries = json.loads(path.read_bytes()).get("manifests", [])
    ref = "org.opencontainers.image.ref.name"
    return [e for e in entries if (e.get("annotations") or {}).get(ref) not in replaced]


# --------------------------------------------------------------------------- data


def pseudo_random_bytes(size: int, seed: int | str = 0) -> bytes:
    """Incompressible but reproducible bytes, for layers whose size must survive compression."""
    return random.Random(seed).randbytes(size)
