"""Image inventories, built once per manifest digest and cached in the metadata store.

A rescan after the vulnerability data changed reads the cached inventory and touches no layer.
"""

from __future__ import annotations

import json
from dataclasses import asdict

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


def inventory_from_json(text: str) -> Inventory:
    data = json.loads(text)
    distro = Distro(**data["distro"]) if data.get("distro") else None
    return Inventory(distro, tuple(Package(**p) for p in data["packages"]))
