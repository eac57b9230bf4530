"""npm packages: `package.json` at package roots under `node_modules`.

    .../node_modules/lodash/package.json          a package
    .../node_modules/@babel/core/package.json     a scoped package
    .../node_modules/lodash/fp/package.json       not a package root: skipped (as Trivy does)

`name` and `version` come from the JSON; files that are not JSON objects with both are skipped.
"""

from __future__ import annotations

import json

from dockyard.backends.scanner.view import MergedView
from dockyard.domain.scanning import Package


def wants(path: str, name: str) -> bool:
    if name != "package.json" or "node_modules/" not in path:
        return False
    parts = path.split("/")
    if len(parts) >= 3 and parts[-3] == "node_modules":
        return not parts[-2].startswith("@")  # a scope directory is not a package
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def catalog(view: MergedView) -> list[Package]:
    packages = []
    for path, node in view.files():
        if wants(path, path.rpartition("/")[2]):
            manifest = _load(node.data)
            name, version = manifest.get("name"), manifest.get("version")
            if isinstance(name, str) and isinstance(version, str) and name and version:
                packages.append(_package(name, version, path, node.layer))
    return packages


def _load(data: bytes) -> dict[str, object]:
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, or absurdly nested
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _package(name: str, version: str, path: str, layer: str) -> Package:
    return Package(
        ecosystem="npm",
        name=name,
        version=version,
        package_manager="npm",
        file_path=path,
        layer_digest=layer,
    )
