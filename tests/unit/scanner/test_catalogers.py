"""Catalogers on a merged view: OS detection and every package database format."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from tests.support import fixture_images as fx
from tests.support.images import Symlink

from dockyard.backends.scanner.catalogers import (
    Allowlist,
    apk,
    dpkg,
    npm,
    os_release,
    python,
    rpm,
    rpmdb,
)
from dockyard.backends.scanner.layers import Limits
from dockyard.backends.scanner.view import File, LayerDelta, Link, MergedView
from dockyard.domain.scanning import ScanFailed

GO_RPMDB = Path("/usr/share/gocode/src/github.com/knqyf263/go-rpmdb/pkg/testdata")


def view_of(files: dict[str, object], layer: str = "sha256:l1") -> MergedView:
    """A one-layer view of a fixture file map (no tar involved)."""
    delta = LayerDelta(layer)
    for path, entry in files.items():
        if isinstance(entry, Symlink):
            delta.files[path] = Link(entry.target, layer)
        elif isinstance(entry, bytes):
            delta.files[path] = File(entry, layer)
    view = MergedView()
    view.apply(delta)
    return view


# --------------------------------------------------------------------------- os-release


@pytest.mark.parametrize(
    ("files", "ecosystem", "distro_id", "version_id"),
    [
        (fx.debian12_files(), "Debian:12", "debian", "12"),
        (fx.ubuntu2204_files(), "Ubuntu:22.04:LTS", "ubuntu", "22.04"),
        (fx.alpine319_files(), "Alpine:v3.19", "alpine", "3.19.1"),
        (fx.alma9_files(), "AlmaLinux:9", "almalinux", "9.3"),
        (fx.distroless_files(), "Debian:12", "debian", "12"),
    ],
)
def test_os_release_detects_fixture_distros(files, ecosystem, distro_id, version_id):
    distro = os_release.detect(view_of(files))
    assert distro is not None
    assert (distro.ecosystem, distro.id, distro.version_id) == (ecosystem, distro_id, version_id)


def test_debian_os_release_is_found_through_its_symlink_only():
    files = fx.debian12_files()
    del files["etc/debian_version"]
    distro = os_release.detect(view_of(files))
    assert distro and distro.pretty_name == "Debian GNU/Linux 12 (bookworm)"


@pytest.mark.parametrize(
    ("text", "ecosystem"),
    [
        ('ID=ubuntu\nVERSION_ID="23.10"\nVERSION="23.10 (Mantic Minotaur)"', "Ubuntu:23.10"),
        ('ID=ubuntu\nVERSION_ID="24.04"', "Ubuntu:24.04:LTS"),  # LTS by the calendar rule
        ('ID="rocky"\nVERSION_ID="9.3"', "Rocky Linux:9"),
        ('ID="rhel"\nVERSION_ID="9.3"', "Red Hat:enterprise_linux:9"),
        ('ID="centos"\nVERSION_ID="7"', "Red Hat:enterprise_linux:7"),
        ("ID=alpine\nVERSION_ID=3.20.0_alpha20240329", "Alpine:v3.20"),
        ("ID=wolfi\nVERSION_ID=20230201", "Wolfi"),
        ('ID=debian\nPRETTY_NAME="Debian GNU/Linux trixie/sid"', None),  # sid: no release
        ("ID=fedora\nVERSION_ID=39", None),  # no OSV data for Fedora
        ("ID=amzn\nVERSION_ID=2023", None),
        ("# comment only", None),
    ],
)
def test_os_release_ecosystems(text, ecosystem):
    distro = os_release.detect(view_of({"etc/os-release": text.encode()}))
    assert (distro.ecosystem if distro else None) == ecosystem


def test_os_release_parse_undoes_shell_quoting():
    fields = os_release.parse(
        'NAME=\'Alpine Linux\'\nPRETTY_NAME="Say \\"hi\\""\nID=alpine # tail\nBROKEN="open\n'
    )
    assert fields["NAME"] == "Alpine Linux"
    assert fields["PRETTY_NAME"] == 'Say "hi"'
    assert fields["BROKEN"] == "open"


def test_hint_files_stand_in_for_a_missing_os_release():
    assert os_release.detect(view_of({"etc/alpine-release": b"3.18.4\n"})).ecosystem == (
        "Alpine:v3.18"
    )
    assert os_release.detect(view_of({"etc/debian_version": b"11.8\n"})).ecosystem == "Debian:11"
    assert os_release.detect(view_of({"etc/debian_version": b"trixie/sid\n"})) is None


def test_a_dangling_os_release_symlink_falls_back_to_usr_lib():
    view = view_of(
        {"etc/os-release": Symlink("/nowhere"), "usr/lib/os-release": b"ID=debian\nVERSION_ID=12\n"}
    )
    assert os_release.detect(view).ecosystem == "Debian:12"


# --------------------------------------------------------------------------- dpkg


def test_dpkg_status_installed_packages_with_sources():
    packages = {
        p.name: p for p in dpkg.parse(fx.dpkg_status(fx.DEBIAN_12_PACKAGES).decode(), "Debian:12")
    }
    assert "libgdbm6" not in packages  # deinstall ok config-files: only conffiles are left
    assert len(packages) == 7
    libssl = packages["libssl3"]
    assert (libssl.source_name, libssl.source_version) == ("openssl", "3.0.11-1~deb12u1")
    bash = packages["bash"]  # binNMU: the source version differs from the binary's
    assert (bash.version, bash.source_name, bash.source_version) == (
        "5.2.15-2+b2",
        "bash",
        "5.2.15-2",
    )
    assert packages["zlib1g"].version == "1:1.2.13.dfsg-1"
    assert packages["tar"].match_name == "tar" and packages["tar"].arch == "amd64"
    assert all(
        p.ecosystem == "Debian:12" and p.package_manager == "dpkg" for p in packages.values()
    )


@pytest.mark.parametrize("status", ["deinstall ok not-installed", "purge ok config-files"])
def test_dpkg_skips_packages_whose_files_are_gone(status):
    text = fx.dpkg_status(
        [fx.Deb("gone", "1.0", status=status), fx.Deb("kept", "1.0", status="hold ok installed")]
    )
    assert [p.name for p in dpkg.parse(text.decode())] == ["kept"]


def test_dpkg_tolerates_crlf_and_missing_fields():
    text = "Package: a\r\nVersion: 1\r\n\r\nPackage: no-version\r\n\r\nVersion: 2\r\n"
    assert [(p.name, p.version) for p in dpkg.parse(text)] == [("a", "1")]


def test_distroless_status_d_entries_skip_md5sums():
    view = view_of(fx.distroless_files())
    packages = dpkg.catalog(view, "Debian:12")
    assert sorted(p.name for p in packages) == ["base-files", "bash", "libc6", "libssl3"]
    assert {p.file_path for p in packages} == {f"var/lib/dpkg/status.d/{p.name}" for p in packages}


# --------------------------------------------------------------------------- apk


def test_apk_installed_db():
    packages = apk.catalog(view_of(fx.alpine319_files()), "Alpine:v3.19")
    by_name = {p.name: p for p in packages}
    assert len(packages) == 6
    assert (by_name["libcrypto3"].source_name, by_name["libcrypto3"].version) == (
        "openssl",
        "3.1.4-r5",
    )
    assert by_name["musl"].arch == "x86_64" and by_name["musl"].file_path == "lib/apk/db/installed"


def test_apk_db_under_usr_lib_read_once_through_a_lib_symlink():
    files = {
        "lib": Symlink("usr/lib"),
        "usr/lib/apk/db/installed": fx.apk_installed(fx.ALPINE_319_PACKAGES[:2]),
    }
    packages = apk.catalog(view_of(files), "Alpine:v3.22")
    assert [p.name for p in packages] == ["musl", "busybox"]
    assert packages[0].file_path == "usr/lib/apk/db/installed"


# --------------------------------------------------------------------------- rpm


def alma_names(packages):
    return sorted((p.name, p.version, p.source_name, p.arch) for p in packages)


ALMA_EXPECTED = [
    ("bash", "5.1.8-6.el9_1", "bash", "x86_64"),
    ("curl", "7.76.1-26.el9_3.2", "curl", "x86_64"),
    ("glibc", "2.34-83.el9.7", "glibc", "x86_64"),
    ("openssl-libs", "1:3.0.7-24.el9", "openssl", "x86_64"),
    ("zlib", "1.2.11-40.el9", "zlib", "x86_64"),
]


@pytest.mark.parametrize("db", ["sqlite", "bdb"])
def test_rpm_databases_list_packages_without_gpg_keys(db):
    packages = rpm.catalog(view_of(fx.alma9_files(db=db)), "AlmaLinux:9")
    assert alma_names(packages) == ALMA_EXPECTED
    assert all(p.source_version == p.version and p.package_manager == "rpm" for p in packages)


@pytest.mark.parametrize(("page_size", "order"), [(512, ">"), (512, "<"), (65536, "<")])
def test_bdb_reader_follows_overflow_chains_in_both_byte_orders(page_size, order):
    headers = [fx.rpm_header(fx.rpm_tags(r)) for r in fx.ALMA_9_PACKAGES]
    assert rpmdb.bdb_blobs(fx.rpmdb_bdb(headers, page_size, order)) == headers


def test_rpm_header_parse_reads_the_tags():
    tags = rpm.parse_header(
        fx.rpm_header({1000: "openssl-libs", 1003: 1, 1001: "3.0.7", 1002: "24.el9"})
    )
    assert tags == {1000: "openssl-libs", 1003: 1, 1001: "3.0.7", 1002: "24.el9"}
    assert rpm.source_name("openssl-3.0.7-24.el9.src.rpm") == "openssl"
    assert rpm.source_name("kernel-5.14.0-362.el9.nosrc.rpm") == "kernel"
    assert rpm.evr(0, "1.0", "1") == "1.0-1"


def test_rpm_database_behind_a_directory_symlink_is_read_once():
    files = fx.alma9_files()
    files["usr/lib/sysimage/rpm/rpmdb.sqlite"] = files.pop("var/lib/rpm/rpmdb.sqlite")
    files["var/lib/rpm"] = Symlink("../../usr/lib/sysimage/rpm")
    packages = rpm.catalog(view_of(files), "AlmaLinux:9")
    assert alma_names(packages) == ALMA_EXPECTED


def test_rpmdb_sqlite_wal_commits_are_seen(tmp_path):
    """rpm runs SQLite in WAL mode; commits still in `-wal` are part of the database."""
    path = tmp_path / "rpmdb.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    db.commit()
    main = path.read_bytes()  # before the insert reaches the main file
    db.execute(
        "INSERT INTO Packages (blob) VALUES (?)",
        (fx.rpm_header(fx.rpm_tags(fx.ALMA_9_PACKAGES[0])),),
    )
    db.commit()
    wal = Path(f"{path}-wal").read_bytes()
    db.close()
    assert len(rpmdb.sqlite_blobs(main, wal, lambda: False)) == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a database at all" * 100, "cannot be read"),
        (b"", "no Packages table"),  # an empty file is an empty database
    ],
)
def test_rpmdb_sqlite_garbage_is_scan_failed(data, reason):
    with pytest.raises(ScanFailed, match=reason):
        rpmdb.sqlite_blobs(data, None, lambda: False)


def test_rpmdb_sqlite_packages_view_is_refused():
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIEW Packages AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x AS blob FROM c"
    )
    with pytest.raises(ScanFailed, match="no Packages table"):
        rpmdb.sqlite_blobs(db.serialize(), None, lambda: False)


def test_rpmdb_sqlite_query_stops_at_the_deadline():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)")
    db.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b"x" * 100,)] * 20000)
    db.commit()
    with pytest.raises(ScanFailed, match="cannot be read"):
        rpmdb.sqlite_blobs(db.serialize(), None, lambda: True)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:100],  # shorter than a page
        lambda b: b[:12] + b"\0\0\0\0" + b[16:],  # no magic
        lambda b: b[:25] + b"\x07" + b[26:],  # metadata page of the wrong type
        lambda b: b[: 4096 + 20] + b"\xff\x7f" + b[4096 + 22 :],  # item count past the page
        lambda b: b[: 4096 + 26] + b"\x05\x00" + b[4096 + 28 :],  # item inside the page header
        lambda b: (
            b[: 2 * 4096 + 25] + b"\x0d" + b[2 * 4096 + 26 :]
        ),  # overflow page of the wrong type
        lambda b: b[: 3 * 4096],  # overflow chain cut short
    ],
)
def test_corrupt_bdb_is_scan_failed(mangle):
    headers = [fx.rpm_header(fx.rpm_tags(r)) for r in fx.ALMA_9_PACKAGES]
    with pytest.raises(ScanFailed):
        for blob in rpmdb.bdb_blobs(mangle(fx.rpmdb_bdb(headers))):
            rpm.parse_header(blob)


@pytest.mark.parametrize(
    "blob", [b"\0\0\0\1", b"\0\0\0\0\0\0\0\0", b"\xff\xff\xff\xff\0\0\0\x10" + bytes(32)]
)
def test_corrupt_rpm_header_is_scan_failed(blob):
    with pytest.raises(ScanFailed):
        rpm.parse_header(blob)


@pytest.mark.skipif(shutil.which("rpm") is None, reason="needs the rpm tool as an oracle")
@pytest.mark.parametrize("db", ["sqlite", "bdb"])
def test_fixture_databases_read_the_same_with_rpm(tmp_path, db):
    name = "var/lib/rpm/rpmdb.sqlite" if db == "sqlite" else "var/lib/rpm/Packages"
    (tmp_path / Path(name).name).write_bytes(fx.alma9_files(db=db)[name])
    expected = {f"{n} {v} {a}" for n, v, _s, a in ALMA_EXPECTED}
    assert rpm_qa(tmp_path, bdb=db == "bdb") == expected


@pytest.mark.skipif(
    shutil.which("rpm") is None or not GO_RPMDB.is_dir(),
    reason="needs rpm and golang-github-knqyf263-go-rpmdb-dev (real CentOS 5-8 databases)",
)
def test_real_centos_bdb_databases_match_rpm_qa():
    for name in ("centos5-plain", "centos7-python35", "centos8-modularitylabel"):
        directory = GO_RPMDB / name
        view = view_of({"var/lib/rpm/Packages": (directory / "Packages").read_bytes()})
        ours = {f"{p.name} {p.version} {p.arch}" for p in rpm.catalog(view, "")}
        assert ours == rpm_qa(directory, bdb=True), directory.name


def rpm_qa(dbpath: Path, bdb: bool) -> set[str]:
    args = [
        "rpm",
        "--dbpath",
        str(dbpath),
        "-qa",
        "--qf",
        "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %|ARCH?{%{ARCH}}:{}|\\n",
    ]
    if bdb:
        args[1:1] = ["--define", "_db_backend bdb_ro"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return {
        line.replace(" 0:", " ") for line in out.splitlines() if not line.startswith("gpg-pubkey")
    }


# --------------------------------------------------------------------------- language packages


def test_python_dist_info_metadata():
    packages = python.catalog(view_of(fx.python_files()))
    assert [(p.ecosystem, p.name, p.version) for p in packages] == [("PyPI", "requests", "2.25.0")]
    assert packages[0].file_path.endswith("requests-2.25.0.dist-info/METADATA")


def test_python_egg_info_forms_and_pep503_names():
    files = {
        "usr/lib/python3/dist-packages/Flask_SQLAlchemy-2.5.1.egg-info/PKG-INFO": b"Name: Flask_SQLAlchemy\nVersion: 2.5.1\n",
        "usr/lib/python3/dist-packages/zope.interface-5.0.egg-info": b"Metadata-Version: 1.1\nName: zope.interface\nVersion: 5.0\n",
        "opt/x.egg/EGG-INFO/PKG-INFO": b"Name: Some__Thing\nVersion: 1\n",
        "usr/lib/python3/dist-packages/broken.dist-info/METADATA": b"\xff\xfe garbage",
    }
    names = sorted((p.name, p.version) for p in python.catalog(view_of(files)))
    assert names == [("flask-sqlalchemy", "2.5.1"), ("some-thing", "1"), ("zope-interface", "5.0")]


def test_npm_package_roots_only():
    files = fx.npm_files()
    files["app/node_modules/@babel/core/package.json"] = (
        b'{"name": "@babel/core", "version": "7.23.0"}'
    )
    files["app/node_modules/@babel/package.json"] = b'{"name": "not-a-package", "version": "1"}'
    files["app/node_modules/bad/package.json"] = b"{not json"
    files["app/node_modules/list/package.json"] = b"[1, 2]"
    files["app/node_modules/novers/package.json"] = b'{"name": "novers"}'
    names = sorted((p.name, p.version) for p in npm.catalog(view_of(files)))
    assert names == [("@babel/core", "7.23.0"), ("lodash", "4.17.15")]


# --------------------------------------------------------------------------- allowlist


def test_allowlist_keeps_databases_metadata_and_the_symlinks_to_them():
    allow = Allowlist(Limits(max_file_bytes=10, max_db_bytes=20))
    assert allow.file_cap("var/lib/dpkg/status") == 20
    assert allow.file_cap("var/lib/rpm/rpmdb.sqlite") == 20
    assert allow.file_cap("etc/os-release") == 10
    assert allow.file_cap("var/lib/dpkg/status.d/libc6") == 10
    assert allow.file_cap("var/lib/dpkg/status.d/libc6.md5sums") is None
    assert allow.file_cap("x/node_modules/a/package.json") == 10
    assert allow.file_cap("x/package.json") is None
    assert allow.file_cap("usr/bin/tar") is None
    assert (
        allow.keeps_link("lib")
        and allow.keeps_link("var/lib/rpm")
        and allow.keeps_link("etc/os-release")
    )
    assert not allow.keeps_link("usr/bin/python3")
