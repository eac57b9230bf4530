"""Debian packages: `var/lib/dpkg/status` and distroless `var/lib/dpkg/status.d/*`.

    stanza (RFC 822-ish, blank-line separated)
        Package: libssl3            ─► Package.name
        Status: install ok installed  (absent in status.d: one file per installed package)
        Architecture: amd64
        Source: openssl (3.0.11-1~deb12u1)   ─► source_name, source_version
        Version: 3.0.11-1~deb12u1   ─► version (epoch kept: 1:7.9p1-10+deb10u2)

Only packages whose files are on disk count: a Status whose last word is `not-installed` or
`config-files` (removed, configuration left) is skipped, as Trivy and Clair skip them. `Source`
defaults to the binary name and the source version to the binary version, as both do.
"""

from __future__ import annotations

from dockyard.backends.scanner.view import MergedView
from dockyard.domain.scanning import Package

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
DB_PATHS = (STATUS,)
_GONE = frozenset({"not-installed", "config-files"})
_FIELDS = frozenset({"Package", "Status", "Version", "Architecture", "Source"})


def wants(path: str, name: str) -> bool:
    """Distroless keeps one stanza per package under status.d (plus md5sums we skip)."""
    return (
        path.startswith(STATUS_D)
        and not name.endswith(".md5sums")
        and "/" not in path[len(STATUS_D) :]
    )


def catalog(view: MergedView, ecosystem: str) -> list[Package]:
    """Installed packages of the main database and of status.d, the first seen of each kept."""
    found: dict[tuple[str, str, str], Package] = {}
    sources = [(STATUS, view.get(STATUS))]
    sources += [(path, node) for path, node in view.files() if wants(path, path.rpartition("/")[2])]
    for path, node in sources:
        if node is None:
            continue
        for package in parse(node.data.decode("utf-8", "replace"), ecosystem, path, node.layer):
            found.setdefault((package.name, package.arch, package.version), package)
    return list(found.values())


def parse(text: str, ecosystem: str = "", path: str = STATUS, layer: str = "") -> list[Package]:
    """Packages of one status file (or status.d entry)."""
    packages = []
    for stanza in text.replace("\r\n", "\n").split("\n\n"):
        fields = _fields(stanza)
        if not fields.get("Package") or not fields.get("Version"):
            continue
        status = fields.get("Status", "install ok installed").split()
        if not status or status[-1] in _GONE:
            continue
        packages.append(_package(fields, ecosystem, path, layer))
    return packages


def _fields(stanza: str) -> dict[str, str]:
    """The few fields we read; continuation lines (leading space) belong to other fields."""
    fields = {}
    for line in stanza.split("\n"):
        if line[:1] in (" ", "\t", ""):
            continue
        key, sep, value = line.partition(":")
        if sep and key in _FIELDS:
            fields[key] = value.strip()
    return fields


def _package(fields: dict[str, str], ecosystem: str, path: str, layer: str) -> Package:
    version = fields["Version"]
    source_name, _, rest = fields.get("Source", "").partition(" ")
    source_version = rest.strip().strip("()").strip()
    return Package(
        ecosystem=ecosystem,
        name=fields["Package"],
        version=version,
        source_name=source_name or fields["Package"],
        source_version=source_version or version,
        arch=fields.get("Architecture", ""),
        package_manager="dpkg",
        file_path=path,
        layer_digest=layer,
    )
