"""The data directory is private to the user who runs Dockyard: `0700`, and every file in it
`0600`, whatever the umask it was started with.

It holds the key that signs `/v2/` tokens (in `dockyard.db`), the access keys
(`credentials.toml`), every blob and upload, and the scanner's data; anyone who can read it
can act as any account. So, before anything is created in it:

- the process's umask gains `077`: every file and directory any part of Dockyard (SQLite and
  its `-wal`/`-shm`, blob and upload files, scanner indexes) creates from then on is private;
- the directory is created `0700`, or, found more open, tightened to `0700`, and so is each
  entry at its top level (so everything below is out of reach too, without walking millions of
  blobs at every start), with a line on stderr saying what was changed.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_OTHERS = 0o077  # the group and world bits


def secure_data_dir(data_dir: Path) -> list[Path]:
    """Make `data_dir` (created if missing) and what this process creates private; return
    the paths whose modes had to be tightened."""
    make_private_by_default()
    data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    tightened = [path for path in (data_dir, *sorted(data_dir.iterdir())) if _tighten(path)]
    if tightened:
        names = ", ".join(str(path) for path in tightened)
        print(
            f"dockyard: data directory was readable by other users; tightened to "
            f"{PRIVATE_DIR:04o} (directories) and {PRIVATE_FILE:04o} (files): {names}",
            file=sys.stderr,
            flush=True,
        )
    return tightened


def make_private_by_default() -> None:
    """Add `077` to the process umask (keeping any stricter bits it already had)."""
    current = os.umask(_OTHERS)
    os.umask(current | _OTHERS)


def _tighten(path: Path) -> bool:
    """chmod `path` to private if group or others have any access; True if it did."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:  # removed meanwhile (an upload finishing in another process)
        return False
    if stat.S_ISLNK(mode) or not (mode & _OTHERS):
        return False
    path.chmod(PRIVATE_DIR if stat.S_ISDIR(mode) else PRIVATE_FILE)
    return True
