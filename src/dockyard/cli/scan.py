"""`dockyard scan REPO[:TAG|@DIGEST]`: scan one stored image now and print its findings.

Reads the same data directory (or --database-url / --storage-url) as `serve`, builds the
image's inventory from its layers (or the cached one), matches it against the imported OSV
data and prints a table. It does not change the image's recorded scan (use StartImageScan).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dockyard.config import add_config_option
from dockyard.domain.errors import DockyardError
from dockyard.domain.manifests import parse_manifest
from dockyard.domain.models import Image
from dockyard.domain.scanning import UNSUPPORTED_IMAGE, Finding, ScanFailed
from dockyard.ports import BlobStore


def add_parser(sub: argparse._SubParsersAction) -> None:
    scan = sub.add_parser("scan", help="scan a stored image and print its findings")
    scan.add_argument("image", help="REPOSITORY:TAG or REPOSITORY@sha256:...")
    scan.add_argument(
        "--data-dir",
        type=Path,
        default=Path("./dockyard-data"),
        help="the server's data directory (must exist; also where vulndb lives)",
    )
    scan.add_argument("--database-url", help="the server's metadata database, if not embedded")
    scan.add_argument("--storage-url", help="the server's blob storage, if not embedded")
    scan.add_argument("--account", help="registry id (default: the first account)")
    scan.add_argument(
        "--enhanced",
        action="store_true",
        help="also match language packages (PyPI, npm), as enhanced scanning does",
    )
    add_config_option(scan)


def run(args: argparse.Namespace) -> int:
    from dockyard.app import create_services
    from dockyard.backends.configuration import ConfigurationError
    from dockyard.progress import Progress
    from dockyard.services.scan_inventory import load_or_build_inventory
    from dockyard.settings import Settings

    settings = Settings(
        data_dir=args.data_dir, database_url=args.database_url, storage_url=args.storage_url
    )
    try:  # reads a server's data; never creates a data directory or credentials
        svc = create_services(settings, create=False)
    except ConfigurationError as exc:
        print(f"dockyard scan: {exc}", file=sys.stderr)
        return 2
    account = args.account or svc.default_account
    if not account:
        print(
            f"dockyard scan: no credentials.toml in {args.data_dir} to take the default "
            "account from: pass --account",
            file=sys.stderr,
        )
        return 2
    name, reference = _split(args.image)
    try:
        image = svc.images.find(account, name, reference)
        with Progress() as bar:
            blobs = LayerProgress(svc.blob_store, image, bar)
            inventory = load_or_build_inventory(svc.meta, svc.scans.scanner, blobs, image)
            blobs.finish()
        if inventory.distro is None and not (args.enhanced and inventory.packages):
            raise ScanFailed(UNSUPPORTED_IMAGE)
        found = svc.scans.scanner.match(inventory, args.enhanced)
    except (DockyardError, ScanFailed) as exc:
        print(f"dockyard scan: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    distro = inventory.distro.ecosystem if inventory.distro else "no OS"
    print(
        f"{args.image} ({image.digest}): {distro}, {len(inventory.packages)} packages, "
        f"{len(found)} findings"
    )
    print(_table(found))
    return 0


class LayerProgress:
    """The blob store, counting layers as the scanner opens them (the bar advances per layer)."""

    def __init__(self, blobs: BlobStore, image: Image, bar: Callable[[str, int, int], None]):
        self._blobs, self._bar = blobs, bar
        self._layers = _layer_digests(image)
        self._opened = 0

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        if digest in self._layers:
            self._bar("layers", self._opened, len(self._layers))
            self._opened += 1
        return self._blobs.read(digest, offset, length)

    def finish(self) -> None:
        if self._opened:  # nothing opened: the inventory was cached, no bar at all
            self._bar("layers", self._opened, len(self._layers))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._blobs, name)


def _layer_digests(image: Image) -> set[str]:
    try:
        manifest = parse_manifest(image.manifest or b"", image.media_type or None)
    except DockyardError:  # the scanner reports a bad manifest itself
        return set()
    return {str(layer.digest) for layer in manifest.layers}


def _split(text: str) -> tuple[str, str]:
    if "@" in text:
        name, digest = text.split("@", 1)
        return name, digest
    name, _, tag = text.rpartition(":")
    return (name, tag) if name and "/" not in tag else (text, "latest")


def _table(found: list[Finding]) -> str:
    rows = [("SEVERITY", "VULNERABILITY", "PACKAGE", "VERSION", "FIXED IN")]
    rows += [
        (
            f.severity,
            f.id,
            f.package.match_name,
            f.package.match_version,
            f.fixed_version or "NotAvailable",
        )
        for f in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows
    )
