"""Backends chosen by URL. An unknown scheme is an error at start-up, never a silent fallback."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from dockyard.backends.blobs.filesystem import FilesystemBlobStore
from dockyard.backends.blobs.memory import MemoryBlobStore
from dockyard.ports import BlobStore, MetadataStore, VulnerabilityScanner


class ConfigurationError(RuntimeError):
    """Settings that cannot work; the message says what to fix."""


def open_blob_store(url: str) -> BlobStore:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FilesystemBlobStore(parsed.path)
    if parsed.scheme == "memory":
        return MemoryBlobStore()
    raise ConfigurationError(f"unknown storage URL scheme in {url!r}; use file:///path or memory://")


def open_scanner(data_dir: Path) -> VulnerabilityScanner:
    """The offline scanner: layer inventories plus the OSV index in the data directory."""
    from dockyard.backends.scanner.engine import OsvScanner

    return OsvScanner(data_dir)


def open_metadata_store(url: str) -> MetadataStore:
    from dockyard.backends.metadata.sql import SqlMetadataStore

    if not url.startswith("sqlite:"):
        raise ConfigurationError(f"unsupported database URL {url!r}; use sqlite:///path")
    return SqlMetadataStore(url)
