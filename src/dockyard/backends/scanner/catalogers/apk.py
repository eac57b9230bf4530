"""Alpine (and Wolfi/Chainguard) packages: `lib/apk/db/installed`.

    P:musl            ─► name
    V:1.2.4_git20230717-r4 ─► version
    A:x86_64          ─► arch
    o:musl            ─► source_name (the origin: OSV's Alpine records name it)

Records are blank-line separated `K:value` lines. Newer images keep the database under
`usr/lib/apk/db/installed` (with `lib/apk` a symlink or gone); both paths are read, once.
"""

from __future__ import annotations

from dockyard.backends.scanner.view import MergedView
from dockyard.domain.scanning import Package

DB_PATHS = ("lib/apk/db/installed", "usr/lib/apk/db/installed")


def catalog(view: MergedView, ecosystem: str) -> list[Package]:
    seen: set[str] = set()
    packages: list[Package] = []
    for path in DB_PATHS:
        real = view.resolve(path)
        node = view.get(real)
        if node is None or real in seen:
            continue
        seen.add(real)
        packages += parse(node.data.decode("utf-8", "replace"), ecosystem, real, node.layer)
    return packages


def parse(
    text: str, ecosystem: str = "", path: str = DB_PATHS[0], layer: str = ""
) -> list[Package]:
    packages = []
    for record in text.replace("\r\n", "\n").split("\n\n"):
        fields = {}
        for line in record.split("\n"):
            if len(line) > 2 and line[1] == ":" and line[0] in "PVAo":
                fields[line[0]] = line[2:].strip()
        if fields.get("P") and fields.get("V"):
            packages.append(_package(fields, ecosystem, path, layer))
    return packages


def _package(fields: dict[str, str], ecosystem: str, path: str, layer: str) -> Package:
    return Package(
        ecosystem=ecosystem,
        name=fields["P"],
        version=fields["V"],
        source_name=fields.get("o") or fields["P"],
        source_version=fields["V"],
        arch=fields.get("A", ""),
        package_manager="apk",
        file_path=path,
        layer_digest=layer,
    )
