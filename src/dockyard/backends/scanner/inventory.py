"""An image's inventory: distro and packages, read from its layers in one pass.

    manifest ─► config (architecture)
             ─► layers, bottom to top: open_layer ─► read_layer ─► MergedView.apply
                                        (after a layer that touched a package database:
                                         note which OS packages it holds, for attribution)
             ─► catalogers ─► Inventory(distro, packages, architecture)

`build_inventory` is the whole contract: any failure is a `ScanFailed` whose message says why
(`Limits` lists the caps). An image without a supported distro still gets an inventory, with
`distro=None` (language packages may be there); the scan service turns that, or an empty
`os_packages()`, into ECR's `UnsupportedImageError` for basic scans.

OS packages carry the digest of the layer where they appeared with their current version
(ECR's `sourceLayerHash`): the earliest layer from which every later state of the package
database still lists them. Language packages carry the layer that wrote their metadata file.

`inventory_to_json` / `inventory_from_json` round-trip an inventory for the per-image cache, so
a rescan after a vulnerability database update needs no layer I/O.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

from dockyard.backends.scanner import catalogers
from dockyard.backends.scanner.layers import Budget, Limits, open_layer, size_text
from dockyard.backends.scanner.view import MergedView, read_layer
from dockyard.domain.errors import ManifestInvalid, ManifestTooLarge
from dockyard.domain.manifests import INDEX_TYPES, Descriptor, parse_manifest
from dockyard.domain.scanning import Distro, Inventory, Package, ScanFailed

__all__ = ["Limits", "build_inventory", "inventory_from_json", "inventory_to_json"]

JSON_FORMAT = 1
OpenBlob = Callable[[str], Any]  # digest -> file object or iterator of byte chunks
_Key = tuple[str, str, str, str]  # package manager, name, arch, version


def build_inventory(
    manifest_bytes: bytes,
    media_type: str,
    open_blob: OpenBlob,
    limits: Limits | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Inventory:
    """Read an image manifest's layers from storage and catalog what is installed."""
    try:
        return _build(manifest_bytes, media_type, open_blob, limits or Limits(), clock)
    except ScanFailed:
        raise
    except RecursionError:
        raise ScanFailed("image metadata is nested too deeply") from None
    except MemoryError:
        raise ScanFailed("image needs more memory than the scanner has") from None
    except Exception as exc:  # noqa: BLE001 - untrusted input: every failure is a failed scan
        raise ScanFailed(f"image cannot be read ({type(exc).__name__}: {exc})") from None


def _build(
    manifest_bytes: bytes,
    media_type: str,
    open_blob: OpenBlob,
    limits: Limits,
    clock: Callable[[], float],
) -> Inventory:
    layers, config = _image_parts(manifest_bytes, media_type, limits)
    budget = Budget(limits, clock)
    architecture = _architecture(open_blob, config, limits)
    view = MergedView(limits.max_symlink_hops)
    history = _read_layers(layers, open_blob, view, budget)
    distro, packages = catalogers.catalog(view, budget.expired)
    if history and history[-1][0] == str(layers[-1].digest):  # the top layer: the final catalog
        history[-1] = (history[-1][0], {_key(p) for p in packages if p.is_os_package})
    return Inventory(distro, tuple(_attribute(packages, history)), architecture)


def _read_layers(
    layers: list[Descriptor], open_blob: OpenBlob, view: MergedView, budget: Budget
) -> list[tuple[str, set[_Key]]]:
    """Apply every layer to the view, bottom first; return the OS packages after each layer
    that changed a package database (the top layer's set is filled in from the final catalog).
    """
    allowlist = catalogers.Allowlist(budget.limits)
    history: list[tuple[str, set[_Key]]] = []
    for index, layer in enumerate(layers):
        digest = str(layer.digest)
        delta = read_layer(
            open_layer(open_blob, digest, layer.media_type, budget), digest, allowlist, view, budget
        )
        before = view.nodes(catalogers.DB_PATHS)
        view.apply(delta)
        after = view.nodes(catalogers.DB_PATHS)
        if any(old is not new for old, new in zip(before, after)):  # written, replaced or gone
            top = index == len(layers) - 1
            history.append((digest, set() if top else _os_keys(view, budget)))
    return history


def _image_parts(
    manifest_bytes: bytes, media_type: str, limits: Limits
) -> tuple[list[Descriptor], Descriptor]:
    """The layers to read (bottom first) and the config descriptor."""
    try:
        manifest = parse_manifest(manifest_bytes, media_type or None)
    except (ManifestInvalid, ManifestTooLarge) as exc:
        raise ScanFailed(f"image manifest is invalid ({exc})") from None
    if manifest.media_type in INDEX_TYPES or manifest.config is None:
        raise ScanFailed("an image index has no layers; scan each image it lists")
    layers = [layer for layer in manifest.layers if not layer.is_foreign]
    if len(layers) > limits.max_layers:
        raise ScanFailed(f"image has {len(layers)} layers; the limit is {limits.max_layers}")
    declared = sum(layer.size for layer in layers)
    if declared > limits.max_compressed_bytes:
        raise ScanFailed(
            f"image layers are {size_text(declared)}; "
            f"the limit is {size_text(limits.max_compressed_bytes)}"
        )
    return layers, manifest.config


def _architecture(open_blob: OpenBlob, config: Descriptor, limits: Limits) -> str:
    """The config's `architecture` (`amd64`, `arm64` ...), or "" if it does not say."""
    if config.size > limits.max_config_bytes:
        raise ScanFailed(
            f"image config is {size_text(config.size)}; the limit is "
            f"{size_text(limits.max_config_bytes)}"
        )
    try:
        opened = open_blob(str(config.digest))
        data = opened.read() if hasattr(opened, "read") else b"".join(opened)
        document = json.loads(data[: limits.max_config_bytes])
    except ValueError:
        raise ScanFailed("image config is not JSON") from None
    except Exception as exc:  # noqa: BLE001 - any blob store error means the same to a scan
        raise ScanFailed(f"image config cannot be read from storage ({exc!r})") from None
    value = document.get("architecture") if isinstance(document, dict) else None
    return value if isinstance(value, str) else ""


def _os_keys(view: MergedView, budget: Budget) -> set[_Key]:
    """The OS packages the view holds now; a database that does not parse holds none."""
    budget.check_time()
    try:
        packages = catalogers.os_packages(view, "", budget.expired)
    except ScanFailed:
        return set()  # a later layer may repair it; the final catalog decides
    return {_key(package) for package in packages}


def _key(package: Package) -> _Key:
    return (package.package_manager, package.name, package.arch, package.version)


def _attribute(packages: list[Package], history: list[tuple[str, set[_Key]]]) -> list[Package]:
    """Give each package of a fixed database the layer where its current version appeared.

    status.d entries (one file per package) already carry the layer of their own file.
    """
    out = []
    for package in packages:
        if package.file_path in catalogers.DB_PATHS and history:
            layer = _introduced(_key(package), history)
            package = dataclasses.replace(package, layer_digest=layer or package.layer_digest)
        out.append(package)
    return out


def _introduced(key: _Key, history: list[tuple[str, set[_Key]]]) -> str:
    layer = ""
    for digest, keys in reversed(history):
        if key not in keys:
            break
        layer = digest
    return layer


# --------------------------------------------------------------------------- cache format


def inventory_to_json(inventory: Inventory) -> str:
    """A compact, stable JSON form of an inventory (for the per-image cache)."""
    document = {
        "format": JSON_FORMAT,
        "architecture": inventory.architecture,
        "distro": dataclasses.asdict(inventory.distro) if inventory.distro else None,
        "packages": [_compact(dataclasses.asdict(p)) for p in inventory.packages],
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def inventory_from_json(text: str) -> Inventory:
    """The inventory `inventory_to_json` wrote; ValueError for anything else."""
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("format") != JSON_FORMAT:
        raise ValueError("not a cached inventory of a known format")
    distro = document.get("distro")
    return Inventory(
        distro=Distro(**_known(Distro, distro)) if distro else None,
        packages=tuple(Package(**_known(Package, p)) for p in document.get("packages", [])),
        architecture=document.get("architecture", ""),
    )


_REQUIRED = {"id": "", "version_id": "", "ecosystem": "", "name": "", "version": ""}


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    """Empty strings are the defaults: leaving them out halves a typical cached inventory."""
    return {key: value for key, value in fields.items() if value != ""}


def _known(cls: type, fields: dict[str, Any]) -> dict[str, Any]:
    """Fields the record has now (a cache written by a later version may carry more)."""
    names = {f.name for f in dataclasses.fields(cls)}
    required = {key: value for key, value in _REQUIRED.items() if key in names}
    return required | {key: value for key, value in fields.items() if key in names}
