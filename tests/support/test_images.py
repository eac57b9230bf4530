"""The offline image builder produces what real tools accept, byte-stable across runs.

skopeo reads the layouts and ``dir:`` copies; umoci unpacks them and applies whiteouts; the
digests do not depend on time or machine.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from tests.support.images import (
    OPAQUE,
    WHITEOUT,
    Dir,
    File,
    Hardlink,
    MediaTypes,
    Platform,
    Symlink,
    build_artifact,
    build_image,
    build_index,
    build_layer,
    digest_of,
    layout_manifest,
    write_dir,
    write_layout,
)

LOWER = {
    "etc/os-release": b"ID=debian\n",
    "bin/busybox": File(b"\x7fELF", mode=0o755),
    "bin/sh": Symlink("busybox"),
    "var/cache/empty": Dir(0o700),
    "var/old": b"old",
}
UPPER = {
    "etc/os-release": WHITEOUT,
    "usr/lib/os-release": b"ID=alpine\n",
    "etc/hl": Hardlink("usr/lib/os-release"),
}
TOP = {"var": OPAQUE, "var/new": b"new"}


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A temp dir removed right after the test (pytest's tmp_path keeps the last runs)."""
    with tempfile.TemporaryDirectory(prefix="dockyard-images-") as path:
        yield Path(path)


def run(*command: str) -> bytes:
    result = subprocess.run(command, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, f"{command}: {result.stderr.decode(errors='replace')}"
    return result.stdout


def members(layer_tar: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer_tar)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_builds_are_deterministic():
    first = build_image([LOWER, UPPER, TOP], compression="gzip")
    second = build_image([LOWER, UPPER, TOP], compression="gzip")

    assert first.manifest.data == second.manifest.data
    assert [b.data for b in first.blobs] == [b.data for b in second.blobs]
    assert first.layers[0].data[4:8] == b"\0\0\0\0"  # gzip MTIME field is zero


def test_layer_members_follow_the_layer_spec():
    layer = build_layer(
        {**LOWER, **TOP, "old/file": WHITEOUT, "lib/ld.so": Hardlink("bin/busybox")}
    )
    entries = members(layer.tar)

    assert list(entries)[:2] == ["bin", "bin/busybox"]  # parents first
    assert list(entries)[-1] == "lib/ld.so"  # hard links after their targets
    assert entries["old/.wh.file"].isfile() and entries["var/.wh..wh..opq"].isfile()
    assert entries["bin/sh"].issym() and entries["bin/sh"].linkname == "busybox"
    assert entries["bin/busybox"].mode == 0o755 and entries["var/cache/empty"].mode == 0o700
    assert {m.mtime for m in entries.values()} == {946684800}
    assert gzip.decompress(layer.blob.data) == layer.tar


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_config_diff_ids_match_uncompressed_layers(compression):
    image = build_image([LOWER, UPPER], compression=compression)
    config = json.loads(image.config.data)

    raw = [
        gzip.decompress(b.data) if compression == "gzip"
        else zstandard.ZstdDecompressor().decompress(b.data) if compression == "zstd"
        else b.data
        for b in image.layers
    ]  # fmt: skip
    assert config["rootfs"]["diff_ids"] == [digest_of(tar) for tar in raw]
    assert image.layers[0].media_type == MediaTypes.OCI_LAYER[compression]
    assert json.loads(image.manifest.data)["layers"][1]["digest"] == image.layers[1].digest


def test_docker_flavor_refuses_what_schema2_cannot_express():
    with pytest.raises(ValueError):
        build_layer(LOWER, compression="zstd", flavor="docker")
    with pytest.raises(ValueError):
        build_image([LOWER], flavor="docker", annotations={"a": "b"})


def test_skopeo_reads_layouts_and_dirs(scratch: Path):
    image = build_image([LOWER, UPPER, TOP], indent=2)
    index = build_index(
        [build_image([LOWER], platform=p) for p in (Platform(), Platform("arm64", variant="v8"))]
    )
    artifact = build_artifact(
        {"sbom.json": b"{}"}, artifact_type="application/vnd.example+json", subject=image
    )
    layout = write_layout(scratch / "layout", {"img": image, "multi": index})
    write_layout(layout, {"art": artifact})  # extends, keeps the other tags
    docker = build_image([LOWER], flavor="docker")

    info = json.loads(run("skopeo", "inspect", f"oci:{layout}:img"))
    assert info["Digest"] == image.digest
    assert info["Layers"] == [b.digest for b in image.layers]
    assert run("skopeo", "inspect", "--raw", f"oci:{layout}:multi") == index.manifest.data
    assert layout_manifest(layout, "art") == artifact.manifest.data
    assert (
        json.loads(run("skopeo", "inspect", f"dir:{write_dir(scratch / 'dir', docker)}"))["Digest"]
        == docker.digest
    )


def test_artifact_manifest_shape():
    subject = build_image([LOWER])
    artifact = build_artifact(
        {"b.txt": b"2", "a.txt": b"1"}, artifact_type="application/x.test", subject=subject
    )
    document = json.loads(artifact.manifest.data)

    assert document["artifactType"] == "application/x.test"
    assert document["config"] == {
        "mediaType": MediaTypes.OCI_EMPTY,
        "digest": digest_of(b"{}"),
        "size": 2,
    }
    assert [
        layer["annotations"]["org.opencontainers.image.title"] for layer in document["layers"]
    ] == ["a.txt", "b.txt"]
    assert document["subject"] == subject.manifest.descriptor()


def test_umoci_unpacks_with_whiteouts(scratch: Path):
    layout = write_layout(scratch / "layout", {"img": build_image([LOWER, UPPER, TOP])})

    run("umoci", "unpack", "--rootless", "--image", f"{layout}:img", str(scratch / "bundle"))

    rootfs = scratch / "bundle" / "rootfs"
    assert not (rootfs / "etc/os-release").exists()  # whiteout
    assert (rootfs / "etc/hl").read_bytes() == b"ID=alpine\n"  # hard link
    assert (rootfs / "bin/sh").readlink() == Path("busybox")
    assert sorted(p.name for p in (rootfs / "var").iterdir()) == ["new"]  # opaque dir
