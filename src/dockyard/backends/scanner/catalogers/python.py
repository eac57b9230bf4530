"""Python distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` and `*.egg-info` files.

    Metadata-Version: 2.1
    Name: requests          ─► PEP 503 name: `requests`; `Flask_SQLAlchemy` -> `flask-sqlalchemy`
    Version: 2.25.0

Only the RFC 822 header block is read (the description that follows can be long). Anywhere in
the image counts: site-packages, dist-packages, a virtualenv, EGG-INFO inside an egg.
"""

from __future__ import annotations

import re

from dockyard.backends.scanner.view import MergedView
from dockyard.domain.scanning import Package

_SEPARATORS = re.compile(r"[-_.]+")


def wants(path: str, name: str) -> bool:
    if name == "METADATA":
        return path.endswith(".dist-info/METADATA")
    if name == "PKG-INFO":
        return path.endswith((".egg-info/PKG-INFO", "EGG-INFO/PKG-INFO"))
    return name.endswith(".egg-info")  # a single-file egg-info (distutils installs)


def catalog(view: MergedView) -> list[Package]:
    packages: dict[tuple[str, str, str], Package] = {}
    for path, node in view.files():
        if not wants(path, path.rpartition("/")[2]):
            continue
        headers = parse(node.data.decode("utf-8", "replace"))
        name, version = headers.get("Name", ""), headers.get("Version", "")
        if name and version:
            package = _package(normalize(name), version, path, node.layer)
            packages.setdefault((package.name, package.version, path), package)
    return list(packages.values())


def parse(text: str) -> dict[str, str]:
    """Header fields up to the first blank line (first occurrence of each wins)."""
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and not key[:1].isspace():
            headers.setdefault(key.strip(), value.strip())
    return headers


def normalize(name: str) -> str:
    """PEP 503: runs of `-`, `_`, `.` become one `-`, lower case (OSV's PyPI names)."""
    return _SEPARATORS.sub("-", name).lower()


def _package(name: str, version: str, path: str, layer: str) -> Package:
    return Package(
        ecosystem="PyPI",
        name=name,
        version=version,
        package_manager="python",
        file_path=path,
        layer_digest=layer,
    )
