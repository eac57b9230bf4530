"""build_inventory end to end: manifests and layers as the registry stores them."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile

import pytest
from tests.support import fixture_images as fx
from tests.support.images import (
    OPAQUE,
    WHITEOUT,
    Blob,
    Dir,
    Hardlink,
    Layer,
    MediaTypes,
    Platform,
    Symlink,
    build_image,
    build_index,
    compress,
    ordered_layer_tar,
)

from dockyard.backends.scanner.inventory import (
    Limits,
    build_inventory,
    inventory_from_json,
    inventory_to_json,
)
from dockyard.domain.scanning import Inventory, Package, ScanFailed

DEB_OPENSSL_FIXED = fx.Deb("openssl", "3.0.13-1~deb12u1")


def inventory(image, source=None, limits=None) -> Inventory:
    source = source or fx.BlobSource([image])
    return build_inventory(image.manifest.data, image.manifest.media_type, source.open, limits)


def names(inv: Inventory, manager: str | None = None) -> dict[str, str]:
    return {p.name: p.version for p in inv.packages if manager in (None, p.package_manager)}


# --------------------------------------------------------------------------- distros


def test_debian_image_with_language_packages():
    image = fx.image_of(fx.debian12_files(), fx.python_files(), fx.npm_files())
    inv = inventory(image)
    assert inv.distro.ecosystem == "Debian:12" and inv.architecture == "amd64"
    assert names(inv, "dpkg")["tar"] == "1.34+dfsg-1.2"
    assert names(inv, "python") == {"requests": "2.25.0"}
    assert names(inv, "npm") == {"lodash": "4.17.15"}
    assert {p.name for p in inv.os_packages()} == set(names(inv, "dpkg"))
    assert all(p.ecosystem == "Debian:12" for p in inv.os_packages())


@pytest.mark.parametrize(
    ("files", "manager", "count", "ecosystem"),
    [
        (fx.ubuntu2204_files(), "dpkg", 4, "Ubuntu:22.04:LTS"),
        (fx.alpine319_files(), "apk", 6, "Alpine:v3.19"),
        (fx.alma9_files(), "rpm", 5, "AlmaLinux:9"),
        (fx.alma9_files(db="bdb"), "rpm", 5, "AlmaLinux:9"),
        (fx.distroless_files(), "dpkg", 4, "Debian:12"),
    ],
)
def test_each_distro_inventories(files, manager, count, ecosystem):
    inv = inventory(fx.image_of(files))
    assert inv.distro.ecosystem == ecosystem
    assert len(inv.os_packages()) == count
    assert {p.package_manager for p in inv.os_packages()} == {manager}


def test_scratch_image_has_no_distro_and_no_packages():
    inv = inventory(fx.image_of(fx.scratch_files()))
    assert inv.distro is None and inv.packages == ()


def test_architecture_comes_from_the_config():
    image = build_image([fx.alpine319_files()], platform=Platform("arm64", variant="v8"))
    assert inventory(image).architecture == "arm64"


def test_package_list_is_a_parameter():
    packages = (*fx.DEBIAN_12_PACKAGES[:3], fx.Deb("curl", "7.88.1-10+deb12u5"))
    inv = inventory(fx.image_of(fx.debian12_files(packages)))
    assert names(inv, "dpkg")["curl"] == "7.88.1-10+deb12u5"


# --------------------------------------------------------------------------- layer formats


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_every_layer_compression_gives_the_same_inventory(compression):
    baseline = inventory(fx.image_of(fx.debian12_files(), fx.npm_files()))
    image = fx.image_of(fx.debian12_files(), fx.npm_files(), compression=compression)
    inv = inventory(image)
    assert without_layers(inv) == without_layers(baseline)
    assert {p.layer_digest for p in inv.packages} == {blob.digest for blob in image.layers}


def without_layers(inv: Inventory) -> list[Package]:
    return [dataclasses.replace(p, layer_digest="") for p in inv.packages]


def test_docker_media_types_and_a_file_object_blob_store():
    image = build_image([fx.alpine319_files()], flavor="docker")
    source = fx.BlobSource([image])
    inv = build_inventory(
        image.manifest.data,
        image.manifest.media_type,
        lambda digest: io.BytesIO(source.blobs[digest]),
    )
    assert inv.distro.ecosystem == "Alpine:v3.19" and len(inv.os_packages()) == 6


def test_media_type_is_only_a_hint_magic_bytes_decide():
    files = fx.alpine319_files()
    gz = compress(ordered_layer_tar(files.items()), "gzip")
    # a gzip blob labelled as a plain tar, as some old pushers did
    mislabelled = Layer(
        tar=ordered_layer_tar(files.items()), blob=Blob(MediaTypes.OCI_LAYER["none"], gz)
    )
    inv = inventory(build_image([mislabelled]))
    assert inv.distro.ecosystem == "Alpine:v3.19"


LONG_DIR = "app/" + "/".join(f"directory{i:02d}" for i in range(10))


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_tar_dialects_and_long_names(fmt):
    """ustar splits long names into prefix/name, GNU writes `L`/`K` records, PAX `x` (+ `g`)."""
    buffer = io.BytesIO()
    globals_ = {"comment": "global header"} if fmt == tarfile.PAX_FORMAT else None
    with tarfile.open(fileobj=buffer, mode="w", format=fmt, pax_headers=globals_) as tar:
        for path, data in fx.alpine319_files().items():
            if isinstance(data, bytes):
                add_file(tar, path, data)
        add_file(tar, f"{LONG_DIR}/node_modules/lodash/package.json", fx.LODASH_PACKAGE_JSON)
        link = tarfile.TarInfo("etc/os-release")
        link.type = tarfile.SYMTYPE
        dots = 10 if fmt == tarfile.USTAR_FORMAT else 60  # ustar cannot hold > 100 bytes
        link.linkname = "../usr/" + "./" * dots + "lib/os-release"  # long, yet inside the root
        tar.addfile(link)
    assert len(f"{LONG_DIR}/node_modules/lodash/package.json") > 100
    data = buffer.getvalue()
    inv = inventory(build_image([Layer(tar=data, blob=Blob(MediaTypes.OCI_LAYER["none"], data))]))
    assert names(inv, "npm") == {"lodash": "4.17.15"}
    assert len(inv.os_packages()) == 6
    assert inv.distro.ecosystem == "Alpine:v3.19"


def add_file(tar: tarfile.TarFile, path: str, data: bytes) -> None:
    info = tarfile.TarInfo(path)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_empty_layers_are_fine():
    empty = Layer(
        tar=bytes(1024), blob=Blob(MediaTypes.OCI_LAYER["gzip"], compress(bytes(1024), "gzip"))
    )
    nothing = Layer(tar=b"", blob=Blob(MediaTypes.OCI_LAYER["none"], b""))
    inv = inventory(build_image([fx.alpine319_files(), empty, nothing]))
    assert len(inv.os_packages()) == 6


def test_an_index_is_not_an_image():
    index = build_index([fx.image_of(fx.alpine319_files())])
    with pytest.raises(ScanFailed, match="index"):
        build_inventory(index.manifest.data, index.manifest.media_type, fx.BlobSource().open)


# --------------------------------------------------------------------------- layers merged


def test_whiteout_removes_a_lower_package():
    image = fx.image_of(
        fx.debian12_files(),
        fx.python_files(),
        {f"{fx.SITE_PACKAGES}/requests-2.25.0.dist-info": WHITEOUT},
    )
    assert "requests" not in names(inventory(image))


def test_opaque_directory_hides_lower_children_but_not_its_own():
    site = fx.SITE_PACKAGES
    upper = {
        site: OPAQUE,
        f"{site}/urllib3-2.0.7.dist-info/METADATA": b"Name: urllib3\nVersion: 2.0.7\n",
    }
    inv = inventory(fx.image_of(fx.python_files(), upper))
    assert names(inv, "python") == {"urllib3": "2.0.7"}


def test_opaque_marker_after_its_siblings_still_keeps_them():
    """layer.md: opaque applies whatever the order; same-layer entries are never hidden."""
    site = fx.SITE_PACKAGES
    metadata = f"{site}/urllib3-2.0.7.dist-info/METADATA"
    tar = ordered_layer_tar(
        [(metadata, b"Name: urllib3\nVersion: 2.0.7\n"), (f"{site}/.wh..wh..opq", b"")]
    )
    upper = Layer(tar=tar, blob=Blob(MediaTypes.OCI_LAYER["gzip"], compress(tar, "gzip")))
    inv = inventory(build_image([fx.python_files(), upper]))
    assert names(inv, "python") == {"urllib3": "2.0.7"}


def test_whiteout_in_the_same_layer_as_its_file_does_not_hide_it():
    path = "app/node_modules/lodash"
    tar = ordered_layer_tar(
        [(f"{path}/package.json", fx.LODASH_PACKAGE_JSON), ("app/node_modules/.wh.lodash", b"")]
    )
    layer = Layer(tar=tar, blob=Blob(MediaTypes.OCI_LAYER["gzip"], compress(tar, "gzip")))
    assert names(inventory(build_image([layer])), "npm") == {"lodash": "4.17.15"}


@pytest.mark.parametrize("on_top", [True, False])
def test_upgrade_in_a_later_layer_wins_and_is_attributed_to_it(on_top):
    upgraded = [d for d in fx.DEBIAN_12_PACKAGES if d.name != "openssl"] + [DEB_OPENSSL_FIXED]
    layers = [fx.debian12_files(), {"var/lib/dpkg/status": fx.dpkg_status(upgraded)}]
    image = fx.image_of(*layers) if on_top else fx.image_of(*layers, {"tmp/x": b""})
    packages = {p.name: p for p in inventory(image).os_packages()}
    assert packages["openssl"].version == "3.0.13-1~deb12u1"
    base, upgrade = image.layers[0].digest, image.layers[1].digest
    assert packages["openssl"].layer_digest == upgrade
    assert packages["tar"].layer_digest == base  # unchanged since the base layer


def test_package_removed_then_reinstalled_is_attributed_to_the_reinstall():
    without_tar = [d for d in fx.DEBIAN_12_PACKAGES if d.name != "tar"]
    image = fx.image_of(
        fx.debian12_files(),
        {"var/lib/dpkg/status": fx.dpkg_status(without_tar)},
        {"var/lib/dpkg/status": fx.dpkg_status(fx.DEBIAN_12_PACKAGES)},
    )
    packages = {p.name: p for p in inventory(image).os_packages()}
    assert packages["tar"].layer_digest == image.layers[2].digest
    assert packages["bash"].layer_digest == image.layers[0].digest


def test_database_whited_out_leaves_no_os_packages():
    image = fx.image_of(fx.alpine319_files(), {"lib/apk": WHITEOUT})
    inv = inventory(image)
    assert inv.distro.ecosystem == "Alpine:v3.19" and inv.os_packages() == ()


def test_directory_replacing_a_lower_symlink_is_a_directory_again():
    """Lower: lib -> usr/lib, so lib/apk/db/installed is usr/lib's. Upper: lib is a real dir."""
    db = "usr/lib/apk/db/installed"
    lower = fx.alpine319_files()
    del lower["lib/apk/db/installed"]
    lower |= {"lib": Symlink("usr/lib"), db: fx.apk_installed(fx.ALPINE_319_PACKAGES)}
    only_musl = fx.apk_installed(fx.ALPINE_319_PACKAGES[:1])
    below = inventory(fx.image_of(lower))
    assert {p.file_path for p in below.os_packages()} == {db}  # one database, read once
    inv = inventory(fx.image_of(lower, {"lib": Dir(), "lib/apk/db/installed": only_musl}))
    by_path = {}
    for package in inv.os_packages():
        by_path.setdefault(package.file_path, []).append(package.name)
    assert by_path == {
        "lib/apk/db/installed": ["musl"],
        db: [a.name for a in fx.ALPINE_319_PACKAGES],
    }


def test_absolute_os_release_symlink_resolves_inside_the_image():
    files = fx.debian12_files()
    files["etc/os-release"] = Symlink("/usr/lib/os-release")
    assert inventory(fx.image_of(files)).distro.ecosystem == "Debian:12"


def test_os_release_symlink_to_a_host_only_file_finds_nothing():
    """`/etc/hostname` exists on the host running the scan; the image root has no such file."""
    files = {"etc/os-release": Symlink("/etc/hostname"), "var/lib/dpkg/status": b""}
    assert inventory(fx.image_of(files)).distro is None


def test_hard_link_to_a_kept_file_is_kept():
    site = fx.SITE_PACKAGES
    files = fx.python_files() | {
        f"{site}/requests2-2.25.0.dist-info/METADATA": Hardlink(
            f"{site}/requests-2.25.0.dist-info/METADATA"
        ),
        f"{site}/other-1.0.dist-info/METADATA": Hardlink(f"{site}/requests/__init__.py"),
    }
    paths = {p.file_path.split("/")[-2] for p in inventory(fx.image_of(files)).packages}
    # the second link's target is not kept, so there is nothing to copy
    assert paths == {"requests-2.25.0.dist-info", "requests2-2.25.0.dist-info"}


# --------------------------------------------------------------------------- cache format


def test_inventory_json_round_trip():
    inv = inventory(fx.image_of(fx.debian12_files(), fx.python_files(), fx.npm_files()))
    text = inventory_to_json(inv)
    assert inventory_from_json(text) == inv
    assert json.loads(text)["format"] == 1


def test_inventory_json_of_an_unsupported_image_and_unknown_fields():
    inv = Inventory(None, ())
    assert inventory_from_json(inventory_to_json(inv)) == inv
    document = {
        "format": 1,
        "distro": None,
        "packages": [{"name": "x", "version": "1", "future": 1}],
    }
    assert inventory_from_json(json.dumps(document)).packages[0].name == "x"


@pytest.mark.parametrize("text", ['{"format": 99}', "[]", '"x"'])
def test_inventory_json_of_another_format_is_refused(text):
    with pytest.raises(ValueError):
        inventory_from_json(text)


def test_limits_are_a_parameter():
    image = fx.image_of(fx.debian12_files())
    with pytest.raises(ScanFailed, match="limit"):
        inventory(image, limits=Limits(max_db_bytes=100))
