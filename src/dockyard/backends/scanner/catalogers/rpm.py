"""RPM packages: header blobs from the rpm database, whichever format holds them.

    {var/lib, usr/lib/sysimage, usr/share}/rpm/{rpmdb.sqlite, Packages}   (rpmdb.py reads them)
    header blob ─► NAME, EPOCH, VERSION, RELEASE, ARCH, SOURCERPM ─► Package

Header blob layout (rpm `lib/header.c`, all big-endian):

    il u32, dl u32, il x {tag i32, type u32, offset i32, count u32}, then dl bytes of data;
    STRING (6) and I18NSTRING (9) data is NUL-terminated, INT32 (4) is 4-byte aligned.

Versions are `[epoch:]version-release` (epoch only when non-zero), the form OSV's AlmaLinux,
Rocky and Red Hat records use. The source package name comes from SOURCERPM
(`openssl-3.0.7-16.el9_2.src.rpm` -> `openssl`); its version is the binary's, as rpm builds
them together. `gpg-pubkey` entries are keys, not packages, and are skipped (as Trivy does).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from dockyard.backends.scanner.catalogers import rpmdb
from dockyard.backends.scanner.view import MergedView
from dockyard.domain.scanning import Package, ScanFailed

_DIRS = ("var/lib/rpm", "usr/lib/sysimage/rpm", "usr/share/rpm")
_FILES = ("rpmdb.sqlite", "rpmdb.sqlite-wal", "Packages")
DB_PATHS = tuple(f"{d}/{f}" for d in _DIRS for f in _FILES)

NAME, VERSION, RELEASE, EPOCH, ARCH, SOURCERPM = 1000, 1001, 1002, 1003, 1022, 1044
_STRING_TYPES, _INT32 = (6, 9), 4
_WANTED = frozenset({NAME, VERSION, RELEASE, EPOCH, ARCH, SOURCERPM})
_MAX_INDEX = 0x10000  # rpm's own sanity cap on header tags


def catalog(
    view: MergedView, ecosystem: str, expired: Callable[[], bool] = rpmdb.never
) -> list[Package]:
    """Packages of the first database found in each rpm directory (the same one only once)."""
    found: dict[tuple[str, str, str], Package] = {}
    seen: set[str] = set()
    for directory in _DIRS:
        real = view.resolve(directory)
        if real in seen:
            continue  # var/lib/rpm -> ../../usr/lib/sysimage/rpm on newer Fedora
        seen.add(real)
        for package in _read_dir(view, real, ecosystem, expired):
            found.setdefault((package.name, package.arch, package.version), package)
    return list(found.values())


def _read_dir(
    view: MergedView, directory: str, ecosystem: str, expired: Callable[[], bool]
) -> list[Package]:
    sqlite = view.get(f"{directory}/rpmdb.sqlite")
    if sqlite is not None:
        wal = view.read(f"{directory}/rpmdb.sqlite-wal")
        blobs, path, layer = (
            rpmdb.sqlite_blobs(sqlite.data, wal, expired),
            "rpmdb.sqlite",
            sqlite.layer,
        )
    else:
        bdb = view.get(f"{directory}/Packages")
        if bdb is None:
            return []
        blobs, path, layer = rpmdb.bdb_blobs(bdb.data), "Packages", bdb.layer
    packages = []
    for blob in blobs:
        package = to_package(parse_header(blob), ecosystem, f"{directory}/{path}", layer)
        if package is not None:
            packages.append(package)
    return packages


def parse_header(blob: bytes) -> dict[int, str | int]:
    """The tags we need from one header blob; ScanFailed if the blob is not a header."""
    if len(blob) < 8:
        raise ScanFailed("rpm database holds a value that is not a package header")
    il, dl = struct.unpack_from(">II", blob)
    store = 8 + 16 * il
    if not 0 < il < _MAX_INDEX or store + dl > len(blob):
        raise ScanFailed("rpm database holds a corrupt package header")
    tags: dict[int, str | int] = {}
    for tag, kind, offset, count in struct.iter_unpack(">iIiI", blob[8:store]):
        if tag in _WANTED and count and 0 <= offset < dl:
            value = _value(blob, store + offset, store + dl, kind)
            if value is not None:
                tags[tag] = value
    return tags


def _value(blob: bytes, start: int, end: int, kind: int) -> str | int | None:
    if kind in _STRING_TYPES:
        stop = blob.find(b"\0", start, end)
        return blob[start : stop if stop >= 0 else end].decode("utf-8", "replace")
    if kind == _INT32 and start + 4 <= end:
        return struct.unpack_from(">i", blob, start)[0]
    return None


def to_package(tags: dict[int, str | int], ecosystem: str, path: str, layer: str) -> Package | None:
    name = tags.get(NAME)
    if not isinstance(name, str) or not name or name == "gpg-pubkey":
        return None
    version = evr(tags.get(EPOCH), str(tags.get(VERSION, "")), str(tags.get(RELEASE, "")))
    return Package(
        ecosystem=ecosystem,
        name=name,
        version=version,
        source_name=source_name(str(tags.get(SOURCERPM, ""))) or name,
        source_version=version,
        arch=str(tags.get(ARCH, "")),
        package_manager="rpm",
        file_path=path,
        layer_digest=layer,
    )


def evr(epoch: object, version: str, release: str) -> str:
    """`1:1.1.1k-7.el8_6`; no epoch part when the epoch is absent or zero."""
    text = f"{version}-{release}" if release else version
    return f"{epoch}:{text}" if isinstance(epoch, int) and epoch else text


def source_name(sourcerpm: str) -> str:
    """`openssl-3.0.7-16.el9_2.src.rpm` -> `openssl` (name-version-release.src.rpm)."""
    stem = sourcerpm.removesuffix(".rpm").removesuffix(".nosrc").removesuffix(".src")
    parts = stem.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else ""
