"""Hostile and broken images: every failure is a ScanFailed with a reason, never a crash or hang."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import random
import tarfile
import zlib

import pytest
from tests.support import fixture_images as fx
from tests.support.images import (
    Blob,
    Layer,
    MediaTypes,
    Symlink,
    build_image,
    compress,
    ordered_layer_tar,
)

from dockyard.backends.scanner import layers
from dockyard.backends.scanner.inventory import Limits, build_inventory
from dockyard.domain.scanning import Inventory, ScanFailed

GZIP = MediaTypes.OCI_LAYER["gzip"]
ZSTD = MediaTypes.OCI_LAYER["zstd"]
TAR = MediaTypes.OCI_LAYER["none"]


def raw_image(*blobs: tuple[str, bytes]):
    """An image whose layers are exactly these (media type, blob bytes)."""
    return build_image([Layer(tar=data, blob=Blob(media, data)) for media, data in blobs])


def scan(image, limits=None, source=None, clock=None) -> Inventory:
    source = source or fx.BlobSource([image])
    kwargs = {"clock": clock} if clock else {}
    return build_inventory(
        image.manifest.data, image.manifest.media_type, source.open, limits, **kwargs
    )


def fails(image, reason: str, **kwargs) -> str:
    with pytest.raises(ScanFailed, match=reason) as caught:
        scan(image, **kwargs)
    return str(caught.value)


def tar_header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(format=tarfile.GNU_FORMAT)  # base-256 sizes: any size can be claimed


def gzip_bomb(prefix: bytes, mebibytes: int, byte: int = 0) -> bytes:
    """gzip of `prefix` then `mebibytes` MiB of `byte`, built from one repeated deflate segment.

    A full flush resets the compressor, so compressing the same MiB again gives the same bytes:
    the bomb costs one MiB of compression to make. It has no trailer (never read that far).
    """
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = bytes([byte]) * (1 << 20)
    segment = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH) == segment
    return head + segment * mebibytes


ALPINE_TAR = ordered_layer_tar(fx.alpine319_files().items())
ALPINE_END = 512 * (len(ALPINE_TAR.rstrip(b"\0")) // 512 + 1)  # where the end-of-archive begins


# --------------------------------------------------------------------------- streams


def test_corrupt_gzip():
    data = bytearray(compress(ALPINE_TAR, "gzip"))
    data[len(data) // 2 : len(data) // 2 + 16] = bytes(16)
    fails(raw_image((GZIP, bytes(data))), "corrupt gzip|not a valid tar|corrupt tar")


def test_truncated_gzip():
    data = compress(ALPINE_TAR, "gzip")
    fails(raw_image((GZIP, data[: len(data) - 20])), "truncated")


def test_gzip_crc_is_checked():
    data = bytearray(compress(ALPINE_TAR, "gzip"))
    data[-8] ^= 0xFF  # the CRC32 in the trailer
    fails(raw_image((GZIP, bytes(data))), "corrupt gzip")


def test_not_gzip_at_all():
    fails(raw_image((GZIP, b"this is no gzip stream" * 100)), "bad magic")


def test_data_after_the_gzip_stream():
    fails(raw_image((GZIP, compress(ALPINE_TAR, "gzip") + b"garbage")), "after the end")


def test_multi_member_gzip_and_zero_padding_are_fine():
    half = len(ALPINE_TAR) // 2
    data = gzip.compress(ALPINE_TAR[:half]) + gzip.compress(ALPINE_TAR[half:]) + bytes(100)
    assert len(scan(raw_image((GZIP, data))).os_packages()) == 6


def test_corrupt_zstd():
    data = bytearray(compress(ALPINE_TAR, "zstd"))
    data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)
    fails(raw_image((ZSTD, bytes(data))), "corrupt zstd|truncated|corrupt tar")


def test_truncated_zstd():
    data = compress(ALPINE_TAR, "zstd")
    fails(raw_image((ZSTD, data[: len(data) // 2])), "truncated|corrupt zstd")


@pytest.mark.parametrize("cut", [512, 1536, ALPINE_END, ALPINE_END - 100, ALPINE_END + 511])
def test_truncated_tar(cut):
    """At a header boundary, inside a header or inside data: the end-of-archive block is missing."""
    fails(raw_image((TAR, ALPINE_TAR[:cut])), "truncated")


def test_garbage_where_a_header_should_be():
    first = ordered_layer_tar([("etc/alpine-release", b"3.19.1\n")])[:1024]
    fails(raw_image((TAR, first + b"\x01" * 512 + bytes(1024))), "corrupt tar header|not a valid")


def test_garbage_instead_of_a_tar():
    fails(raw_image((TAR, b"\x01" * 4096)), "not a valid tar|corrupt tar")


# --------------------------------------------------------------------------- sizes and counts


def test_tar_bomb_is_capped_by_uncompressed_bytes():
    bomb = gzip_bomb(tar_header("big", 256 << 20), 256)
    assert len(bomb) < 300_000  # tiny input ...
    limits = Limits(max_uncompressed_bytes=16 << 20)  # ... capped long before 256 MiB
    fails(raw_image((GZIP, bomb)), "uncompressed", limits=limits)


def test_bomb_in_a_kept_file_is_capped_by_the_file_limit():
    bomb = gzip_bomb(tar_header("var/lib/dpkg/status", 512 << 20), 512, ord("a"))
    message = fails(raw_image((GZIP, bomb)), "limit is 128 MiB")
    assert "var/lib/dpkg/status" in message


@pytest.mark.parametrize("name", ["usr/bin/huge", "var/lib/dpkg/status"])
def test_absurd_size_in_a_tar_header(name):
    data = tar_header(name, 1 << 62) + b"x" * 1024
    fails(raw_image((TAR, data)), "truncated|limit is")


def test_absurd_pax_header_size():
    data = tar_header("PaxHeader", 1 << 40, tarfile.XHDTYPE) + bytes(2048)
    fails(raw_image((TAR, data)), "larger than")


def test_absurd_layer_size_in_the_manifest():
    image = fx.image_of(fx.alpine319_files())
    manifest = json.loads(image.manifest.data)
    manifest["layers"][0]["size"] = 1 << 50
    data = json.dumps(manifest).encode()
    with pytest.raises(ScanFailed, match="limit is 16 GiB"):
        build_inventory(data, image.manifest.media_type, fx.BlobSource([image]).open)


def test_blob_larger_than_declared_is_capped_by_bytes_read():
    image = fx.image_of(fx.alpine319_files())
    source = fx.BlobSource([image])
    layer = image.layers[0].digest
    source.blobs[layer] += bytes(200_000)  # zero padding after the gzip stream
    limits = Limits(max_compressed_bytes=image.layers[0].size + 50_000)
    fails(image, "compressed layer bytes", limits=limits, source=source)


def test_too_many_entries():
    files = {f"usr/share/doc/f{i}": b"x" for i in range(50)}
    fails(fx.image_of(files), "more than 20 tar entries", limits=Limits(max_entries=20))


def test_too_many_layers():
    image = fx.image_of(*[{f"f{i}": b""} for i in range(5)])
    fails(image, "5 layers; the limit is 4", limits=Limits(max_layers=4))


def test_small_file_cap_and_kept_bytes_cap():
    big_json = b'{"name": "x", "version": "1", "pad": "' + b"p" * 5000 + b'"}'
    image = fx.image_of({"app/node_modules/x/package.json": big_json})
    fails(image, "limit is 4 KiB", limits=Limits(max_file_bytes=4096))
    many = fx.image_of({f"a/node_modules/p{i}/package.json": big_json for i in range(10)})
    fails(many, "package metadata", limits=Limits(max_kept_bytes=20_000))


def test_config_too_large_or_not_json():
    image = fx.image_of(fx.alpine319_files())
    fails(image, "image config is", limits=Limits(max_config_bytes=10))
    source = fx.BlobSource([image])
    source.blobs[image.config.digest] = b"\xff not json"
    fails(image, "config is not JSON", source=source)


def test_time_budget():
    ticks = itertools.count(0, 1000.0)
    fails(fx.image_of(fx.debian12_files()), "took longer than 600 s", clock=lambda: next(ticks))


# --------------------------------------------------------------------------- paths and links


def test_entry_escaping_the_root():
    tar = ordered_layer_tar([("../../etc/passwd", b"root:x:0:0::/root:/bin/sh\n")])
    fails(raw_image((TAR, tar)), "escapes the image root")


def test_absolute_and_dotted_entry_names_stay_inside():
    tar = ordered_layer_tar(
        [
            ("/etc/alpine-release", b"3.19.1\n"),
            ("./lib/apk/../apk/db/installed", fx.apk_installed(fx.ALPINE_319_PACKAGES)),
        ]
    )
    inv = scan(raw_image((TAR, tar)))
    assert inv.distro.ecosystem == "Alpine:v3.19" and len(inv.os_packages()) == 6


@pytest.mark.parametrize(
    "links",
    [
        {"etc/os-release": Symlink("os-release")},  # itself
        {
            "etc/os-release": Symlink("../usr/lib/os-release"),
            "usr/lib/os-release": Symlink("../../etc/os-release"),
        },
        {"lib": Symlink("usr/lib"), "usr/lib": Symlink("../lib"), "lib/apk/db/installed": b""},
    ],
)
def test_symlink_loops(links):
    fails(fx.image_of(links), "too many levels of symbolic links")


def test_absurdly_long_symlink_target():
    target = "a/" * 200_000 + "os-release"
    tar = ordered_layer_tar([("etc/os-release", Symlink(target))])
    fails(raw_image((TAR, tar)), "longer than 4096 bytes")


def test_relative_symlink_climbing_out_of_the_root():
    fails(
        fx.image_of({"etc/os-release": Symlink("../../../../etc/passwd")}), "escapes the image root"
    )


def test_store_errors():
    image = fx.image_of(fx.alpine319_files())
    fails(image, "cannot be read from storage", source=fx.BlobSource([image]).__class__())

    class Failing(fx.BlobSource):
        def open(self, digest):
            chunks = super().open(digest)
            if digest == image.layers[0].digest:
                yield next(chunks)
                raise OSError("disk on fire")
            yield from chunks

    fails(image, "disk on fire", source=Failing([image]))


@pytest.mark.parametrize("manifest", [b"", b"{", b"[]", b'{"schemaVersion": 2}', b"\xff" * 10])
def test_broken_manifests(manifest):
    with pytest.raises(ScanFailed):
        build_inventory(
            manifest, "application/vnd.oci.image.manifest.v1+json", fx.BlobSource().open
        )


# --------------------------------------------------------------------------- fuzz


def assert_explained(exc: ScanFailed) -> None:
    """Failures must be ones the reader anticipated, not the last-resort catch-all."""
    assert not str(exc).startswith("image cannot be read ("), exc


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data[: rng.randint(len(data) // 2, len(data))] if rng.random() < 0.3 else data)


@pytest.mark.parametrize("media", [GZIP, TAR, ZSTD])
def test_mutated_layers_give_an_inventory_or_scan_failed(media):
    files = fx.alpine319_files() | fx.alma9_files(db="bdb") | fx.npm_files() | fx.python_files()
    tar = ordered_layer_tar(files.items())
    blob = {GZIP: compress(tar, "gzip"), TAR: tar, ZSTD: compress(tar, "zstd")}[media]
    rng = random.Random(media)
    for _ in range(150):
        try:
            scan(raw_image((media, mutate(blob, rng))))
        except ScanFailed as exc:
            assert_explained(exc)


@pytest.mark.parametrize("db", ["sqlite", "bdb"])
def test_mutated_rpm_databases_give_packages_or_scan_failed(db):
    files = fx.alma9_files(db=db)
    path = next(p for p in files if p.startswith("var/lib/rpm/"))
    rng = random.Random(db)
    for _ in range(60):
        mutated = files | {path: mutate(files[path], rng)}
        try:
            scan(fx.image_of(mutated, compression="none"))
        except ScanFailed as exc:
            assert_explained(exc)


def test_open_blob_may_return_a_file_object_that_lies():
    class Weird(io.RawIOBase):
        def read(self, n=-1):
            return "not bytes"

    image = fx.image_of(fx.alpine319_files())
    source = fx.BlobSource([image])
    original = source.open
    source.open = lambda d: Weird() if d == image.layers[0].digest else original(d)
    fails(image, "not bytes", source=source)


def test_plain_zlib_inflates_when_isal_is_missing(monkeypatch):
    monkeypatch.setattr(layers, "_inflate", zlib)
    image = fx.image_of(fx.alpine319_files())
    assert len(scan(image).os_packages()) == 6
    data = bytearray(compress(ALPINE_TAR, "gzip"))
    data[-8] ^= 0xFF
    fails(raw_image((GZIP, bytes(data))), "corrupt gzip")


@pytest.mark.parametrize(("path", "kept"), [("var/lib/dpkg/status", True), ("usr/bin/x", False)])
def test_sparse_members(path, kept):
    """GNU sparse files (PAX 1.0 form): skipped when not wanted, refused when wanted."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(path)
        info.size = 512
        info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
        tar.addfile(info, io.BytesIO(bytes(512)))
        alpine = tarfile.TarInfo("etc/alpine-release")
        alpine.size = 7
        tar.addfile(alpine, io.BytesIO(b"3.19.1\n"))
    image = raw_image((TAR, buffer.getvalue()))
    if kept:
        fails(image, "sparse file")
    else:
        assert scan(image).distro.ecosystem == "Alpine:v3.19"


def test_base256_sizes_and_non_utf8_names_are_read():
    name = "usr/share/caf\udce9"  # a Latin-1 byte in a name, as old tars have them
    info = tarfile.TarInfo(name)
    info.size = 3
    header = info.tobuf(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape")
    big = bytearray(tar_header("etc/alpine-release", 7))
    big[124:136] = b"\x80" + (7).to_bytes(11, "big")  # the same size, base-256 encoded
    big[148:156] = b" " * 8  # the checksum counts its own field as spaces
    big[148:156] = b"%06o\0 " % sum(big)
    data = header + b"abc".ljust(512, b"\0") + bytes(big) + b"3.19.1\n".ljust(512, b"\0")
    assert scan(raw_image((TAR, data + bytes(1024)))).distro.ecosystem == "Alpine:v3.19"
