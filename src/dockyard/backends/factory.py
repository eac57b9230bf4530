"""Backends chosen by URL. An unknown scheme is an error at start-up, never a silent fallback.

`ConfigurationError` lives in backends/configuration.py (re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from dockyard.backends.blobs.fs.store import FilesystemBlobStore
from dockyard.backends.blobs.memory import MemoryBlobStore
from dockyard.backends.configuration import ConfigurationError
from dockyard.ports import BlobStore, VulnerabilityScanner

__all__ = [
    "ConfigurationError",
    "blobs_are_local",
    "database_in_process",
    "open_blob_store",
    "open_metadata_store",
    "open_scanner",
]

if TYPE_CHECKING:
    from dockyard.backends.metadata.sql import SqlMetadataStore


def open_blob_store(url: str) -> BlobStore:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
            raise ConfigurationError(
                f"storage URL {url!r} is not an absolute file URL; "
                "use file:///absolute/path (three slashes)"
            )
        return FilesystemBlobStore(parsed.path)
    if parsed.scheme == "memory":
        return MemoryBlobStore()
    if parsed.scheme == "s3":
        # Imported here: boto3 takes a while to import and only S3 users need it.
        from dockyard.backends.blobs.s3.store import S3BlobStore

        return S3BlobStore.from_url(url)
    raise ConfigurationError(
        f"unknown storage URL scheme in {url!r}; use file:///path, s3://bucket/prefix or memory://"
    )


def blobs_are_local(url: str) -> bool:
    """Whether the blob store at `url` keeps its bytes in this machine's files (or memory)."""
    return urlparse(url).scheme in ("file", "memory")


def database_in_process(url: str) -> bool:
    """Whether the metadata database at `url` runs inside this process (SQLite)."""
    return urlparse(url).scheme.split("+")[0] == "sqlite"


def open_scanner(data_dir: Path) -> VulnerabilityScanner:
    """The offline scanner: layer inventories plus the OSV index in the data directory."""
    from dockyard.backends.scanner.engine import OsvScanner

    return OsvScanner(data_dir)


def open_metadata_store(url: str, *, migrate: bool = False) -> SqlMetadataStore:
    """The SQL store at `url`, its schema at head: upgraded there if `migrate`, else required.

    Only the embedded default migrates by itself; a database the operator named is upgraded by
    the operator (`dockyard db upgrade`), so a rolling deploy never changes a shared schema as a
    side effect of starting one server.
    """
    from dockyard.backends.metadata.sql import SqlMetadataStore

    with database_errors(url):
        store = SqlMetadataStore(url, create=migrate)
        store.probe()
    return store


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn a bad URL, an unreachable database or a stale schema into a ConfigurationError."""
    import sqlalchemy as sa

    from dockyard.backends.metadata.dialects import display_url
    from dockyard.backends.metadata.revision import SchemaNotCurrent

    try:
        yield
    except (ValueError, sa.exc.ArgumentError, SchemaNotCurrent) as exc:
        raise ConfigurationError(str(exc)) from exc
    except sa.exc.DBAPIError as exc:
        # One line, no traceback: the driver's first line says what failed (refused, auth...).
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigurationError(
            f"cannot use metadata database {display_url(url)}: {reason}"
        ) from exc
