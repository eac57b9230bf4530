"""Offline, deterministic images for the scanner: real-looking OS files and package databases.

    file maps (dict path -> bytes | Symlink | WHITEOUT | OPAQUE ...)   images.build_layer/build_image
      debian12_files(packages)  ubuntu2204_files  alpine319_files  alma9_files  distroless_files
      scratch_files  python_files  npm_files
    package databases written here in their real binary formats
      dpkg_status(packages)       text stanzas, as dpkg writes them
      apk_installed(packages)     text records, as apk writes them
      rpm_header(tags)            rpm's header blob (big-endian index + data, HEADERIMMUTABLE region)
      rpmdb_sqlite(headers)       SQLite `Packages(hnum, blob)` as rpm >= 4.16 writes it
      rpmdb_bdb(headers)          BerkeleyDB hash file: metadata page, hash page, overflow chains
    BlobSource: a blob store stand-in (digest -> bytes) whose `open` answers like BlobStore.read

The rpm formats are produced by the helpers here, not by `rpm` (not installed on CI machines);
tests/unit/scanner/test_catalogers.py checks them against `rpm -qa` when rpm is on the machine.
Package lists are parameters, so a test can put exactly the versions an OSV fixture matches.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from tests.support.images import Entry, Image, Symlink, build_image

# --------------------------------------------------------------------------- os-release texts

DEBIAN_12_OS_RELEASE = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

UBUNTU_2204_OS_RELEASE = b"""PRETTY_NAME="Ubuntu 22.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.3 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
"""

ALPINE_319_OS_RELEASE = b"""NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
"""

ALMA_9_OS_RELEASE = b"""NAME="AlmaLinux"
VERSION="9.3 (Shamrock Pampas Cat)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="AlmaLinux 9.3 (Shamrock Pampas Cat)"
ANSI_COLOR="0;34"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:almalinux:almalinux:9::baseos"
HOME_URL="https://almalinux.org/"
DOCUMENTATION_URL="https://wiki.almalinux.org/"
BUG_REPORT_URL="https://bugs.almalinux.org/"

ALMALINUX_MANTISBT_PROJECT="AlmaLinux-9"
ALMALINUX_MANTISBT_PROJECT_VERSION="9.3"
REDHAT_SUPPORT_PRODUCT="AlmaLinux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.3"
"""

DISTROLESS_OS_RELEASE = b"""PRETTY_NAME="Distroless"
NAME="Debian GNU/Linux"
ID="debian"
VERSION_ID="12"
VERSION="Debian GNU/Linux 12 (bookworm)"
HOME_URL="https://github.com/GoogleContainerTools/distroless"
SUPPORT_URL="https://github.com/GoogleContainerTools/distroless/blob/master/README.md"
BUG_REPORT_URL="https://github.com/GoogleContainerTools/distroless/issues/new"
"""

# --------------------------------------------------------------------------- dpkg


@dataclass(frozen=True)
class Deb:
    """One dpkg status stanza; `source` may carry a version: `bash (5.2.15-2)`."""

    name: str
    version: str
    source: str = ""
    arch: str = "amd64"
    status: str = "install ok installed"


# Debian 12 packages; tar is at its pre-fix version (CVE-2022-48303 and CVE-2023-39804 are fixed
# in 1.34+dfsg-1.2+deb12u1) and openssl at 3.0.11-1~deb12u1 (before later bookworm updates).
DEBIAN_12_PACKAGES = (
    Deb("base-files", "12.4+deb12u5"),
    Deb("bash", "5.2.15-2+b2", source="bash (5.2.15-2)"),
    Deb("libc6", "2.36-9+deb12u4", source="glibc"),
    Deb("libssl3", "3.0.11-1~deb12u1", source="openssl"),
    Deb("openssl", "3.0.11-1~deb12u1"),
    Deb("tar", "1.34+dfsg-1.2"),
    Deb("zlib1g", "1:1.2.13.dfsg-1", source="zlib"),
    Deb("libgdbm6", "1.23-3", source="gdbm", status="deinstall ok config-files"),
)

UBUNTU_2204_PACKAGES = (
    Deb("base-files", "12ubuntu4.4"),
    Deb("libc6", "2.35-0ubuntu3.4", source="glibc"),
    Deb("libssl3", "3.0.2-0ubuntu1.10", source="openssl"),
    Deb("e2fsprogs", "1.46.5-2ubuntu1.1"),
)


def dpkg_status(packages: Iterable[Deb]) -> bytes:
    """A `var/lib/dpkg/status` file: one stanza per package, fields in dpkg's order."""
    return "\n".join(_stanza(deb) for deb in packages).encode()


def _stanza(deb: Deb) -> str:
    lines = [f"Package: {deb.name}"]
    if deb.status:
        lines.append(f"Status: {deb.status}")
    lines += ["Priority: optional", "Section: libs", "Installed-Size: 1024"]
    lines += ["Maintainer: Debian Maintainers <debian-devel@lists.debian.org>"]
    lines.append(f"Architecture: {deb.arch}")
    if deb.source:
        lines.append(f"Source: {deb.source}")
    lines += [f"Version: {deb.version}", "Depends: libc6 (>= 2.34)"]
    lines += [f"Description: {deb.name} for tests", " A long description line.", " ."]
    lines.append(" Another paragraph: Version: 0.0 is not a field.")
    return "\n".join(lines) + "\n"


def debian12_files(packages: Sequence[Deb] = DEBIAN_12_PACKAGES) -> dict[str, Entry]:
    """A Debian 12 root: os-release symlink as Debian ships it, dpkg status, some other files."""
    return {
        "etc/os-release": Symlink("../usr/lib/os-release"),
        "usr/lib/os-release": DEBIAN_12_OS_RELEASE,
        "etc/debian_version": b"12.4\n",
        "var/lib/dpkg/status": dpkg_status(packages),
        "var/lib/dpkg/info/tar.md5sums": b"d41d8cd98f00b204e9800998ecf8427e  usr/bin/tar\n",
        "usr/bin/tar": b"\x7fELF not really",
        "bin": Symlink("usr/bin"),
    }


def ubuntu2204_files(packages: Sequence[Deb] = UBUNTU_2204_PACKAGES) -> dict[str, Entry]:
    return {
        "etc/os-release": Symlink("../usr/lib/os-release"),
        "usr/lib/os-release": UBUNTU_2204_OS_RELEASE,
        "var/lib/dpkg/status": dpkg_status(packages),
    }


def distroless_files(packages: Sequence[Deb] = DEBIAN_12_PACKAGES[:4]) -> dict[str, Entry]:
    """gcr.io/distroless style: no status file, one stanza per package under status.d."""
    files: dict[str, Entry] = {"etc/os-release": DISTROLESS_OS_RELEASE}
    for deb in packages:
        files[f"var/lib/dpkg/status.d/{deb.name}"] = dpkg_status([deb])
        files[f"var/lib/dpkg/status.d/{deb.name}.md5sums"] = b"0123  usr/lib/x\n"
    return files


def scratch_files() -> dict[str, Entry]:
    """`FROM scratch` plus one static binary: no OS at all."""
    return {"app": b"\x7fELF static binary"}


# --------------------------------------------------------------------------- apk


@dataclass(frozen=True)
class Apk:
    name: str
    version: str
    origin: str = ""
    arch: str = "x86_64"


ALPINE_319_PACKAGES = (
    Apk("musl", "1.2.4_git20230717-r4"),
    Apk("busybox", "1.36.1-r15"),
    Apk("libcrypto3", "3.1.4-r5", origin="openssl"),
    Apk("libssl3", "3.1.4-r5", origin="openssl"),
    Apk("apk-tools", "2.14.0-r5"),
    Apk("zlib", "1.3.1-r0"),
)


def apk_installed(packages: Iterable[Apk]) -> bytes:
    """`lib/apk/db/installed`: one record per package, as apk writes it."""
    records = []
    for apk in packages:
        records.append(
            f"C:Q1{apk.name}checksum=\nP:{apk.name}\nV:{apk.version}\nA:{apk.arch}\n"
            f"S:1024\nI:4096\nT:{apk.name} for tests\nU:https://alpinelinux.org\nL:MIT\n"
            f"o:{apk.origin or apk.name}\nm:Alpine Maintainers <a@example.org>\nt:1705314935\n"
            f"F:usr/lib\nR:lib{apk.name}.so\na:0:0:755\nZ:Q1zzz=\n"
        )
    return "\n".join(records).encode()


def alpine319_files(packages: Sequence[Apk] = ALPINE_319_PACKAGES) -> dict[str, Entry]:
    return {
        "etc/os-release": Symlink("../usr/lib/os-release"),
        "usr/lib/os-release": ALPINE_319_OS_RELEASE,
        "etc/alpine-release": b"3.19.1\n",
        "lib/apk/db/installed": apk_installed(packages),
    }


# --------------------------------------------------------------------------- rpm


@dataclass(frozen=True)
class Rpm:
    name: str
    version: str
    release: str
    epoch: int | None = None
    arch: str = "x86_64"
    sourcerpm: str | None = ""  # "" derives `<name>-<version>-<release>.src.rpm`; None: no tag


ALMA_9_PACKAGES = (
    Rpm("bash", "5.1.8", "6.el9_1"),
    Rpm("glibc", "2.34", "83.el9.7"),
    Rpm("openssl-libs", "3.0.7", "24.el9", epoch=1, sourcerpm="openssl-3.0.7-24.el9.src.rpm"),
    Rpm("zlib", "1.2.11", "40.el9"),
    Rpm("curl", "7.76.1", "26.el9_3.2"),
    Rpm("gpg-pubkey", "b86b3716", "61e69f29", arch="", sourcerpm=None),
)

RPM_NAME, RPM_VERSION, RPM_RELEASE, RPM_EPOCH, RPM_ARCH, RPM_SOURCERPM = (
    1000,
    1001,
    1002,
    1003,
    1022,
    1044,
)
_STRING, _INT32, _BIN, _IMMUTABLE = 6, 4, 7, 63


def rpm_tags(rpm: Rpm) -> dict[int, str | int]:
    tags: dict[int, str | int] = {RPM_NAME: rpm.name, RPM_VERSION: rpm.version}
    tags[RPM_RELEASE] = rpm.release
    if rpm.epoch is not None:
        tags[RPM_EPOCH] = rpm.epoch
    if rpm.arch:
        tags[RPM_ARCH] = rpm.arch
    if rpm.sourcerpm is not None:
        tags[RPM_SOURCERPM] = rpm.sourcerpm or f"{rpm.name}-{rpm.version}-{rpm.release}.src.rpm"
    return tags


def rpm_header(tags: Mapping[int, str | int]) -> bytes:
    """rpm's on-disk header blob: il, dl, index entries (sorted), data; a HEADERIMMUTABLE region
    entry first whose 16-byte trailer ends the data, as `headerExport` writes it."""
    data, index = bytearray(), []
    for tag in sorted(tags):
        value = tags[tag]
        if isinstance(value, int):
            data += bytes(-len(data) % 4)  # INT32 data is 4-byte aligned
            index.append((tag, _INT32, len(data), 1))
            data += struct.pack(">i", value)
        else:
            index.append((tag, _STRING, len(data), 1))
            data += value.encode() + b"\0"
    il = len(index) + 1
    index.insert(0, (_IMMUTABLE, _BIN, len(data), 16))
    data += struct.pack(">iIiI", _IMMUTABLE, _BIN, -16 * il, 16)
    head = struct.pack(">II", il, len(data))
    return head + b"".join(struct.pack(">iIiI", *entry) for entry in index) + bytes(data)


# rpm 4.18's index tables (`rpm --initdb`); rpm refuses a database that lacks any of them.
RPM_INDEXES = (
    "Name", "Basenames", "Group", "Requirename", "Providename", "Conflictname", "Obsoletename",
    "Triggername", "Dirnames", "Installtid", "Sigmd5", "Sha1header", "Filetriggername",
    "Transfiletriggername", "Recommendname", "Suggestname", "Supplementname", "Enhancename",
)  # fmt: skip


def rpmdb_sqlite(headers: Iterable[bytes]) -> bytes:
    """An `rpmdb.sqlite` holding these header blobs, with rpm's schema (Name index filled)."""
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)"
    )
    for table in RPM_INDEXES:
        connection.execute(
            f"CREATE TABLE '{table}' (key 'TEXT' NOT NULL, hnum INTEGER NOT NULL, idx INTEGER "
            "NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))"
        )
    for hnum, header in enumerate(headers, 1):
        connection.execute("INSERT INTO Packages (hnum, blob) VALUES (?, ?)", (hnum, header))
        name = header_name(header)
        connection.execute("INSERT INTO Name (key, hnum, idx) VALUES (?, ?, 0)", (name, hnum))
    connection.commit()
    data = connection.serialize()
    connection.close()
    return data


def header_name(header: bytes) -> str:
    """NAME of a header blob written by `rpm_header` (for the Name index)."""
    il = struct.unpack_from(">I", header)[0]
    for tag, _kind, offset, _count in struct.iter_unpack(">iIiI", header[8 : 8 + 16 * il]):
        if tag == RPM_NAME:
            start = 8 + 16 * il + offset
            return header[start : header.index(b"\0", start)].decode()
    return ""


def rpmdb_bdb(headers: Sequence[bytes], page_size: int = 4096, order: str = "<") -> bytes:
    """A BerkeleyDB hash `Packages`: key = instance number, value = header, stored off-page.

    Layout: page 0 metadata, page 1 one hash bucket page, then each header's overflow chain.
    Instance 0 holds rpm's counter inline (an H_KEYDATA value), as real databases do.
    """
    pages: list[bytes] = []
    items: list[bytes] = [
        b"\x01" + struct.pack(order + "I", 0),
        b"\x01" + struct.pack(order + "I", len(headers)),
    ]
    next_page = 2
    for number, header in enumerate(headers, 1):
        chain = _overflow_pages(header, page_size, next_page, order)
        items += [b"\x01" + struct.pack(order + "I", number)]
        items += [b"\x03\0\0\0" + struct.pack(order + "II", next_page, len(header))]
        pages += chain
        next_page += len(chain)
    last = next_page - 1
    return _bdb_meta(page_size, last, order) + _hash_page(items, page_size, order) + b"".join(pages)


def _bdb_meta(page_size: int, last: int, order: str) -> bytes:
    page = bytearray(page_size)
    struct.pack_into(order + "III", page, 12, 0x061561, 9, page_size)  # magic, version, pagesize
    page[25] = 8  # hash metadata page
    struct.pack_into(order + "I", page, 32, last)
    # One bucket (max_bucket 0, masks 0) on page 1: spares[0] maps bucket 0 to page 0 + 1.
    struct.pack_into(order + "III", page, 72, 0, 0, 0)
    struct.pack_into(order + "I", page, 96, 1)
    return bytes(page)


def _hash_page(items: list[bytes], page_size: int, order: str) -> bytes:
    page, top, offsets = bytearray(page_size), page_size, []
    for item in items:  # items grow down from the end of the page
        top -= len(item)
        page[top : top + len(item)] = item
        offsets.append(top)
    struct.pack_into(order + "IIIHH", page, 8, 1, 0, 0, len(items), top)
    page[25] = 13  # sorted hash page
    struct.pack_into(f"{order}{len(offsets)}H", page, 26, *offsets)
    return bytes(page)


def _overflow_pages(value: bytes, page_size: int, first: int, order: str) -> list[bytes]:
    room = page_size - 26
    pieces = [value[i : i + room] for i in range(0, len(value), room)]
    pages = []
    for n, piece in enumerate(pieces):
        page = bytearray(page_size)
        following = first + n + 1 if n + 1 < len(pieces) else 0
        struct.pack_into(order + "IIIHH", page, 8, first + n, 0, following, 1, len(piece))
        page[25] = 7  # overflow page
        page[26 : 26 + len(piece)] = piece
        pages.append(bytes(page))
    return pages


def alma9_files(packages: Sequence[Rpm] = ALMA_9_PACKAGES, db: str = "sqlite") -> dict[str, Entry]:
    """AlmaLinux 9 (`db="sqlite"`), or an EL8-style BerkeleyDB `Packages` (`db="bdb"`)."""
    headers = [rpm_header(rpm_tags(rpm)) for rpm in packages]
    files: dict[str, Entry] = {
        "etc/os-release": Symlink("../usr/lib/os-release"),
        "usr/lib/os-release": ALMA_9_OS_RELEASE,
    }
    if db == "sqlite":
        files["var/lib/rpm/rpmdb.sqlite"] = rpmdb_sqlite(headers)
    else:
        files["var/lib/rpm/Packages"] = rpmdb_bdb(headers)
    return files


# --------------------------------------------------------------------------- language packages

REQUESTS_METADATA = b"""Metadata-Version: 2.1
Name: requests
Version: 2.25.0
Summary: Python HTTP for Humans.
Home-page: https://requests.readthedocs.io
Author: Kenneth Reitz
Author-email: me@kennethreitz.org
License: Apache 2.0
Requires-Python: >=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*
Description-Content-Type: text/markdown

# Requests

Version: 9.9.9 in the description is not the version.
"""

LODASH_PACKAGE_JSON = b"""{
  "name": "lodash",
  "version": "4.17.15",
  "description": "Lodash modular utilities.",
  "keywords": ["modules", "stdlib", "util"],
  "homepage": "https://lodash.com/",
  "repository": "lodash/lodash",
  "icon": "https://lodash.com/icon.svg",
  "license": "MIT",
  "main": "lodash.js"
}
"""

SITE_PACKAGES = "usr/local/lib/python3.11/site-packages"


def python_files(version: str = "2.25.0") -> dict[str, Entry]:
    metadata = REQUESTS_METADATA.replace(b"Version: 2.25.0", f"Version: {version}".encode())
    return {
        f"{SITE_PACKAGES}/requests-{version}.dist-info/METADATA": metadata,
        f"{SITE_PACKAGES}/requests-{version}.dist-info/RECORD": b"requests/__init__.py,,\n",
        f"{SITE_PACKAGES}/requests/__init__.py": b"__version__ = '2.25.0'\n",
    }


def npm_files(version: str = "4.17.15") -> dict[str, Entry]:
    manifest = LODASH_PACKAGE_JSON.replace(b'"4.17.15"', f'"{version}"'.encode())
    return {
        "app/node_modules/lodash/package.json": manifest,
        "app/node_modules/lodash/fp/package.json": b'{"name": "fp-hint", "version": "0.0.0"}',
        "app/package.json": b'{"name": "app", "version": "1.0.0"}',
    }


# --------------------------------------------------------------------------- images and blobs


class BlobSource:
    """Blobs by digest; `open` yields ~`chunk`-byte pieces like `BlobStore.read` does."""

    def __init__(self, images: Iterable[Image] = (), chunk: int = 64 * 1024) -> None:
        self.blobs: dict[str, bytes] = {}
        self.chunk = chunk
        for image in images:
            self.add(image)

    def add(self, image: Image) -> Image:
        for blob in image.blobs:
            self.blobs[blob.digest] = blob.data
        return image

    def open(self, digest: str) -> Iterator[bytes]:
        data = self.blobs[digest]  # KeyError, as a store raises for a missing blob
        return (data[i : i + self.chunk] for i in range(0, len(data), self.chunk))


def image_of(*layers: Mapping[str, Entry], compression: str = "gzip") -> Image:
    """An OCI image of these file maps, bottom layer first."""
    return build_image(list(layers), compression=compression)  # type: ignore[arg-type]
