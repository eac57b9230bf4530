"""Start-up checks that turn an operator's mistake into one clear line, and leave nothing behind.

prepared(data_dir)   a context manager around building the services: checks the data
                     directory is (or can become) a writable directory, and if start-up
                     fails inside it, removes what this start created (the directory and
                     the parents it made, or a credentials file written into an existing
                     one), so a failed `serve` leaves the disk as it found it.
require_existing()   for commands that only read a server's data (`dockyard scan`): the
                     data directory (and the embedded database) must already be there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dockyard.backends.configuration import ConfigurationError
from dockyard.services.auth import CREDENTIALS_FILE
from dockyard.settings import Settings


@contextmanager
def prepared(data_dir: Path) -> Iterator[None]:
    created = _first_missing(data_dir.absolute())
    credentials = data_dir / CREDENTIALS_FILE
    had_credentials = credentials.exists()
    _make_writable_directory(data_dir)
    try:
        yield
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        elif not had_credentials:
            credentials.unlink(missing_ok=True)
        raise


def require_existing(settings: Settings) -> None:
    """Refuse, rather than create, a data directory or database that is not there."""
    where = settings.data_dir
    if settings.database_url is not None and settings.storage_url is not None:
        return  # both stores are named: the data directory holds nothing this needs
    if not where.is_dir():
        raise ConfigurationError(
            f"no data directory at {where} (pass the --data-dir of a "
            "server, or --database-url and --storage-url)"
        )
    database = where / "dockyard.db"
    if settings.database_url is None and not database.exists():
        raise ConfigurationError(
            f"no Dockyard database in {where} ({database} is missing): "
            "is this the --data-dir a server uses?"
        )


def _first_missing(path: Path) -> Path | None:
    """The outermost directory of `path` that does not exist yet (what mkdir -p would create)."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return missing
        missing = candidate
    return missing


def _make_writable_directory(data_dir: Path) -> None:
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigurationError(f"--data-dir {data_dir} is a file, not a directory")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create --data-dir {data_dir}: {exc.strerror}") from None
    try:
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        raise ConfigurationError(f"--data-dir {data_dir} is not writable: {exc.strerror}") from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise ConfigurationError(f"--data-dir {data_dir} is not writable")
