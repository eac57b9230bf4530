"""Build the vulnerability index: OSV records from zips or directories into one SQLite file.

    sources (zip of <ID>.json | directory of *.json | one .json)
        │ read_records(): size-capped reads; bad JSON is counted, never fatal
        ▼
    clean_record(): validated, withdrawn dropped, PyPI names PEP 503-normalised, GIT ranges dropped
        │
        ▼
    <data-dir>/.vulndb-<random>.tmp   (a copy of the current index, or empty with --replace)
        │ upsert by id, then recompute cve_severity, ecosystems and meta (generation + 1)
        ▼
    os.replace() onto <data-dir>/vulndb.sqlite     <- atomic: readers see the old or the new file

Tables (see SCHEMA): `vulns` one row per record; `affected` one row per (record, package) with
`INDEX(ecosystem, name)`; `cve_severity` CVSS vectors per CVE id, so a record without severity can
borrow one through its aliases; `ecosystems` counts per ecosystem; `meta` key/value
(generation, imported_at, max_modified, record_count, schema); `sources` an import log.
A lock file serialises concurrent imports, so two imports never drop each other's data.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dockyard.backends.scanner.osv_index_records import (
    BadRecord,
    Limits,
    clean_record,
    normalize_name,
)

__all__ = ["DB_NAME", "ImportReport", "Limits", "clean_record", "import_sources", "normalize_name"]

DB_NAME = "vulndb.sqlite"
DEFAULT_LIMITS = Limits()
SCHEMA_VERSION = "1"
RECORD_BATCH = 1000  # records between progress reports within one file
ImportProgress = Callable[[str, int, int, str], None]  # phase, files done, files, detail


def _silent(phase: str, done: int, total: int, detail: str) -> None:
    pass


SCHEMA = """
CREATE TABLE vulns(id TEXT PRIMARY KEY, modified TEXT, published TEXT, summary TEXT,
    details TEXT, aliases TEXT, upstream TEXT, severity TEXT, refs TEXT,
    database_specific TEXT, source TEXT);
CREATE TABLE affected(vuln_id TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL,
    ranges TEXT, versions TEXT, ecosystem_specific TEXT, severity TEXT);
CREATE INDEX affected_key ON affected(ecosystem, name);
CREATE INDEX affected_vuln ON affected(vuln_id);
CREATE TABLE cve_severity(cve_id TEXT PRIMARY KEY, severity TEXT, source TEXT);
CREATE TABLE ecosystems(ecosystem TEXT PRIMARY KEY, records INTEGER, max_modified TEXT);
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE sources(path TEXT, imported_at TEXT, records INTEGER, skipped_bad INTEGER,
    skipped_withdrawn INTEGER);
"""


@dataclass
class ImportReport:
    """What one import did; `skipped_bad` lists up to 20 examples in `errors`."""

    path: Path
    generation: int = 0
    imported: int = 0
    skipped_bad: int = 0
    skipped_withdrawn: int = 0
    ignored_files: int = 0
    errors: list[str] = field(default_factory=list)

    def bad(self, where: str, why: str) -> None:
        self.skipped_bad += 1
        if len(self.errors) < 20:
            self.errors.append(f"{where}: {why}")


def import_sources(
    paths: list[Path],
    data_dir: Path,
    *,
    replace: bool = False,
    now: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
    progress: ImportProgress | None = None,
) -> ImportReport:
    """Import OSV records from `paths` into `<data_dir>/vulndb.sqlite`, atomically.

    Records are upserted by id into a copy of the current index (or an empty one when
    `replace`); withdrawn records remove the id. Raises FileNotFoundError/ValueError for a
    source that is not a zip, directory or .json file, before anything is written.
    `progress(phase, files_done, files, detail)` is called per file and per record batch.
    """
    for path in paths:
        if not (path.is_dir() or path.is_file()):
            raise FileNotFoundError(f"no such file or directory: {path}")
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / DB_NAME
    stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    report = ImportReport(path=target)
    with _import_lock(data_dir):
        fd, tmp_name = tempfile.mkstemp(prefix=".vulndb-", suffix=".tmp", dir=data_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _build(tmp, target, paths, replace, stamp, limits, report, progress or _silent)
            _publish(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return report


def _build(
    tmp: Path,
    target: Path,
    paths: list[Path],
    replace: bool,
    stamp: str,
    limits: Limits,
    report: ImportReport,
    progress: ImportProgress,
) -> None:
    conn = sqlite3.connect(tmp)
    try:
        generation = "0"
        if target.exists():
            current = sqlite3.connect(target.resolve().as_uri() + "?mode=ro", uri=True)
            try:
                # The generation keeps counting across --replace, so it only ever grows.
                generation = _meta(current).get("generation", "0")
                if not replace:
                    current.backup(conn)
            finally:
                current.close()
        if replace or not target.exists():
            conn.executescript(SCHEMA)
        with conn:
            for done, path in enumerate(paths):
                progress("import", done, len(paths), f"  {path.name}")
                _import_one(conn, path, stamp, limits, report, _per_batch(progress, done, paths))
            progress("import", len(paths), len(paths), f"  {report.imported} records")
            _recompute(conn, stamp, int(generation) + 1)
        report.generation = int(generation) + 1
    finally:
        conn.close()


def _publish(tmp: Path, target: Path) -> None:
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class _import_lock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "vulndb.lock"

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _per_batch(progress: ImportProgress, done: int, paths: list[Path]) -> Callable[[int], None]:
    """Reports a file's running record count (the bar itself still counts files)."""
    return lambda records: progress(
        "import", done, len(paths), f"  {paths[done].name}: {records} records"
    )


def _import_one(
    conn: sqlite3.Connection,
    path: Path,
    stamp: str,
    limits: Limits,
    report: ImportReport,
    batch_done: Callable[[int], None],
) -> None:
    before = (report.imported, report.skipped_bad, report.skipped_withdrawn)
    for count, (where, raw) in enumerate(read_records(path, limits, report), 1):
        if count % RECORD_BATCH == 0:
            batch_done(count)
        if report.imported + report.skipped_withdrawn >= limits.records:
            report.bad(str(path), f"record limit {limits.records} reached; rest ignored")
            break
        try:
            record = clean_record(json.loads(raw), limits)
        except (BadRecord, ValueError, RecursionError) as exc:
            report.bad(where, str(exc)[:200])
            continue
        _delete(conn, record["id"])
        if record["withdrawn"]:
            report.skipped_withdrawn += 1
            continue
        _insert(conn, record, path.name)
        report.imported += 1
    counts = (
        report.imported - before[0],
        report.skipped_bad - before[1],
        report.skipped_withdrawn - before[2],
    )
    conn.execute("INSERT INTO sources VALUES (?, ?, ?, ?, ?)", (str(path), stamp, *counts))


def read_records(path: Path, limits: Limits, report: ImportReport) -> Iterator[tuple[str, bytes]]:
    """(where, raw bytes) for each JSON file in a zip, directory tree or single file."""
    if path.is_dir():
        yield from _read_dir(path, limits, report)
    elif zipfile.is_zipfile(path):
        yield from _read_zip(path, limits, report)
    elif path.suffix == ".json":
        yield from _read_file(path, limits, report)
    else:
        raise ValueError(f"{path}: not a zip, a directory or a .json file")


def _read_dir(root: Path, limits: Limits, report: ImportReport) -> Iterator[tuple[str, bytes]]:
    for dirpath, dirnames, filenames in os.walk(root):  # never follows symlinked directories
        dirnames.sort()
        for name in sorted(filenames):
            file = Path(dirpath) / name
            if name.endswith(".json") and file.is_file() and not file.is_symlink():
                yield from _read_file(file, limits, report)
            else:
                report.ignored_files += 1


def _read_file(file: Path, limits: Limits, report: ImportReport) -> Iterator[tuple[str, bytes]]:
    if file.stat().st_size > limits.record_bytes:
        report.bad(str(file), f"larger than {limits.record_bytes} bytes")
        return
    yield str(file), file.read_bytes()


def _read_zip(path: Path, limits: Limits, report: ImportReport) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        for count, info in enumerate(archive.infolist()):
            if count >= limits.members:
                report.bad(str(path), f"more than {limits.members} entries; rest ignored")
                return
            if info.is_dir() or not info.filename.endswith(".json"):
                report.ignored_files += 1
                continue
            raw = _read_member(archive, info, limits)
            if raw is None:
                report.bad(f"{path}:{info.filename}", "too large or unreadable")
                continue
            yield f"{path}:{info.filename}", raw


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> bytes | None:
    # Declared sizes can lie (zip bombs): read at most the cap plus one byte and check.
    if info.file_size > limits.record_bytes:
        return None
    try:
        with archive.open(info) as member:
            raw = member.read(limits.record_bytes + 1)
    except (zipfile.BadZipFile, OSError, NotImplementedError, EOFError):
        return None
    return None if len(raw) > limits.record_bytes else raw


def _delete(conn: sqlite3.Connection, vid: str) -> None:
    conn.execute("DELETE FROM affected WHERE vuln_id = ?", (vid,))
    conn.execute("DELETE FROM vulns WHERE id = ?", (vid,))


def _insert(conn: sqlite3.Connection, r: dict[str, Any], source: str) -> None:
    dumps = json.dumps
    conn.execute(
        "INSERT INTO vulns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            r["id"],
            r["modified"],
            r["published"],
            r["summary"],
            r["details"],
            dumps(r["aliases"]),
            dumps(r["upstream"]),
            dumps(r["severity"]),
            dumps(r["references"]),
            dumps(r["database_specific"]),
            source,
        ),
    )
    conn.executemany(
        "INSERT INTO affected VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r["id"],
                a["ecosystem"],
                a["name"],
                dumps(a["ranges"]),
                dumps(a["versions"]),
                dumps(a["ecosystem_specific"]),
                dumps(a["severity"]),
            )
            for a in r["affected"]
        ],
    )


def _recompute(conn: sqlite3.Connection, stamp: str, generation: int) -> None:
    _recompute_cve_severity(conn)
    conn.execute("DELETE FROM ecosystems")
    conn.execute("""INSERT INTO ecosystems SELECT a.ecosystem, COUNT(DISTINCT a.vuln_id),
                    MAX(v.modified) FROM affected a JOIN vulns v ON v.id = a.vuln_id
                    GROUP BY a.ecosystem""")
    count, max_modified = conn.execute("SELECT COUNT(*), MAX(modified) FROM vulns").fetchone()
    meta = {
        "schema": SCHEMA_VERSION,
        "generation": str(generation),
        "imported_at": stamp,
        "max_modified": max_modified or "",
        "record_count": str(count),
    }
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())


def _recompute_cve_severity(conn: sqlite3.Connection) -> None:
    """CVSS vectors per CVE id, preferring the `CVE-…` record itself (NVD-derived in OSV)."""
    conn.execute("DELETE FROM cve_severity")
    best: dict[str, tuple[int, str, str]] = {}
    rows = conn.execute("""SELECT id, aliases, upstream, severity FROM vulns
                           WHERE severity != '[]'""")
    for vid, aliases, upstream, severity in rows:
        for cve in {vid, *json.loads(aliases), *json.loads(upstream)}:
            if cve.startswith("CVE-"):
                rank = 0 if cve == vid else 1
                if cve not in best or rank < best[cve][0]:
                    best[cve] = (rank, severity, vid)
    conn.executemany(
        "INSERT INTO cve_severity VALUES (?, ?, ?)",
        [(cve, sev, vid) for cve, (_, sev, vid) in best.items()],
    )


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    try:
        return dict(conn.execute("SELECT key, value FROM meta"))
    except sqlite3.OperationalError:
        return {}
