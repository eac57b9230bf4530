"""Image inventories, built once per manifest digest and cached in the metadata store.

A rescan after the vulnerability data changed reads the cached inventory and touches no layer.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from operator import itemgetter

from dockyard.domain.models import Image
from dockyard.domain.scanning import Distro, Inventory, Package
from dockyard.ports import BlobStore, MetadataStore, VulnerabilityScanner


def load_or_build_inventory(
    meta: MetadataStore, scanner: VulnerabilityScanner, blobs: BlobStore, image: Image
) -> Inventory:
    cached = meta.get_inventory(image.digest)
    if cached is not None:
        return inventory_from_json(cached)
    assert image.manifest is not None
    inventory = scanner.inventory(image.manifest, image.media_type, blobs)
    meta.put_inventory(image.digest, inventory_to_json(inventory))
    return inventory


def inventory_to_json(inventory: Inventory) -> str:
    return json.dumps(asdict(inventory), separators=(",", ":"))


# Images of one fleet share most packages: one Package object per distinct package saves building
# frozen dataclasses, and lets the matcher's memo compare package tuples by identity. Bounded:
# past the limit it starts again (it only ever saves work).
_PACKAGES: dict[tuple[str, ...], Package] = {}
_FIELDS = itemgetter(*(f.name for f in fields(Package)))  # the values in a fixed order, in C
PACKAGE_CACHE_LIMIT = 100_000


def inventory_from_json(text: str) -> Inventory:
    data = json.loads(text)
    distro = Distro(**data["distro"]) if data.get("distro") else None
    if len(_PACKAGES) > PACKAGE_CACHE_LIMIT:
        _PACKAGES.clear()
    return Inventory(distro, tuple(_package(p) for p in data["packages"]))


def _package(values: dict[str, str]) -> Package:
    try:
        key = _FIELDS(values)
    except KeyError:  # written before a field existed: built as it is, not shared
        return Package(**values)
    package = _PACKAGES.get(key)
    if package is None:
        package = _PACKAGES[key] = Package(**values)
    return package
