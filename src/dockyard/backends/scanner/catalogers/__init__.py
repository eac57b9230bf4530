"""Catalogers: pure functions from the merged view to a distro and packages.

| cataloger     | reads                                               | emits                  |
|---------------|-----------------------------------------------------|------------------------|
| os_release    | etc/os-release, usr/lib/os-release (+ hints)        | Distro (OSV ecosystem) |
| dpkg          | var/lib/dpkg/status, var/lib/dpkg/status.d/*        | OS packages            |
| apk           | lib/apk/db/installed, usr/lib/apk/db/installed      | OS packages            |
| rpm           | {var/lib,usr/lib/sysimage,usr/share}/rpm/{rpmdb.sqlite,Packages} | OS packages |
| python        | *.dist-info/METADATA, *.egg-info[/PKG-INFO]         | PyPI packages          |
| npm           | node_modules/<pkg>/package.json                     | npm packages           |

`Allowlist` is what the layer reader asks for every tar member: is this path wanted, and how
big may it be? Package databases may be `Limits.max_db_bytes`, everything else
`Limits.max_file_bytes`. Symlinks are kept on wanted paths and on every directory above a
fixed path (`lib -> usr/lib`, `var/lib/rpm -> ../../usr/lib/sysimage/rpm`), so lookups of the
fixed paths can follow them.
"""

from __future__ import annotations

from collections.abc import Callable

from dockyard.backends.scanner.catalogers import apk, dpkg, npm, os_release, python, rpm, rpmdb
from dockyard.backends.scanner.layers import Limits
from dockyard.backends.scanner.view import MergedView
from dockyard.domain.scanning import Distro, Package

__all__ = ["Allowlist", "catalog", "os_packages"]

DB_PATHS = frozenset(dpkg.DB_PATHS + apk.DB_PATHS + rpm.DB_PATHS)
FILE_PATHS = frozenset(os_release.PATHS)
_PATTERNS = (dpkg.wants, python.wants, npm.wants)
_NAMES = frozenset({"METADATA", "PKG-INFO", "package.json"})  # basenames _PATTERNS may want
_LINK_PATHS = frozenset(
    ancestor
    for path in DB_PATHS | FILE_PATHS
    for ancestor in [path] + [path.rsplit("/", n)[0] for n in range(1, path.count("/") + 1)]
)


class Allowlist:
    """The catalogers' wishes, as `view.read_layer` needs them (a `KeepPolicy`)."""

    def __init__(self, limits: Limits) -> None:
        self._db, self._small = limits.max_db_bytes, limits.max_file_bytes

    def file_cap(self, path: str) -> int | None:
        if path in DB_PATHS:
            return self._db
        if path in FILE_PATHS:
            return self._small
        name = path[path.rfind("/") + 1 :]
        if name in _NAMES or name.endswith(".egg-info") or path.startswith(dpkg.STATUS_D):
            for wants in _PATTERNS:  # the cheap test above rejects almost every file
                if wants(path, name):
                    return self._small
        return None

    def keeps_link(self, path: str) -> bool:
        return path in _LINK_PATHS or self.file_cap(path) is not None


def os_packages(
    view: MergedView, ecosystem: str, expired: Callable[[], bool] = rpmdb.never
) -> list[Package]:
    """dpkg, apk and rpm packages (basic scans look at nothing else)."""
    return (
        dpkg.catalog(view, ecosystem)
        + apk.catalog(view, ecosystem)
        + rpm.catalog(view, ecosystem, expired)
    )


def catalog(
    view: MergedView, expired: Callable[[], bool] = rpmdb.never
) -> tuple[Distro | None, list[Package]]:
    """The distro and every package: OS packages first, then language packages."""
    distro = os_release.detect(view)
    ecosystem = distro.ecosystem if distro else ""
    packages = os_packages(view, ecosystem, expired)
    return distro, packages + python.catalog(view) + npm.catalog(view)
