"""The vulnerability index as the scanner reads it: `<data-dir>/vulndb.sqlite`, built from OSV.

    import_sources(paths, data_dir)        build/merge (osv_index_build.py), atomic rename
    VulnIndex(data_dir)                    read side, one per process, thread-safe
        .refresh()                         reopen if the file was replaced (a stat, no query)
        .affected_for({(ecosystem, name)}) AffectedRow lists, cached per (ecosystem, name)
        .vulns(ids) / .borrowed_severity(cve_ids)
        .status()                          what is loaded: per-ecosystem counts, max modified
        .generation(), .source_updated_at()  for scan records, vulnerabilitySourceUpdatedAt
        .memo                              a per-generation dict the matcher caches results in
    open_index(data_dir)                   the process-wide VulnIndex of a data directory

A server keeps one VulnIndex and calls `refresh()` before each scan: an import replaces the file
by rename, the stat stamp (inode, mtime, size) changes, and the next scan reopens and drops its
caches, so new data is used without a restart while running scans finish on the old file.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dockyard.backends.scanner.osv_index_build import (
    DB_NAME,
    ImportReport,
    Limits,
    import_sources,
    normalize_name,
)

__all__ = [
    "AffectedRow",
    "ImportReport",
    "Limits",
    "VulnIndex",
    "VulnRow",
    "import_sources",
    "normalize_name",
    "open_index",
]

_CHUNK = 400  # names per query: well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class AffectedRow:
    """One `affected[]` entry: which package of which ecosystem, and which versions."""

    vuln_id: str
    ecosystem: str
    name: str
    ranges: tuple[dict[str, Any], ...]
    versions: frozenset[str]
    ecosystem_specific: dict[str, Any]
    severity: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class VulnRow:
    """The record-level facts a finding is written from."""

    id: str
    modified: str
    published: str
    summary: str
    details: str
    aliases: tuple[str, ...]
    upstream: tuple[str, ...]
    severity: tuple[dict[str, str], ...]
    references: tuple[dict[str, str], ...]
    database_specific: dict[str, Any]


class VulnIndex:
    """Read access to `<data_dir>/vulndb.sqlite`; `available` is False until one is imported."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DB_NAME
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._affected: dict[tuple[str, str], list[AffectedRow]] = {}
        self.memo: dict[Any, Any] = {}
        self.refresh()

    @property
    def available(self) -> bool:
        return self._conn is not None

    def refresh(self) -> bool:
        """Reopen the file if an import replaced it; True when the data changed."""
        stamp = _stamp(self.path)
        with self._lock:
            if stamp == self._stamp:
                return False
            if self._conn is not None:
                self._conn.close()
            self._conn = _open(self.path) if stamp else None
            self._stamp = stamp
            self._affected.clear()
            self.memo.clear()
            return True

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn, self._stamp = None, None

    def affected_for(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], list[AffectedRow]]:
        """The affected rows for each (ecosystem, name); names of PyPI are normalised here."""
        wanted = {(eco, normalize_name(eco, name)) for eco, name in keys}
        with self._lock:
            missing = [k for k in wanted if k not in self._affected]
            if missing and self._conn is not None:
                self._load_affected(missing)
            return {k: self._affected.get(k, []) for k in wanted}

    def _load_affected(self, keys: list[tuple[str, str]]) -> None:
        by_ecosystem: dict[str, list[str]] = {}
        for eco, name in keys:
            by_ecosystem.setdefault(eco, []).append(name)
            self._affected[(eco, name)] = []
        for eco, names in by_ecosystem.items():
            for i in range(0, len(names), _CHUNK):
                chunk = names[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._query(
                    f"""SELECT vuln_id, ecosystem, name, ranges, versions, ecosystem_specific,
                        severity FROM affected WHERE ecosystem = ? AND name IN ({marks})""",
                    [eco, *chunk],
                )
                for row in rows:
                    self._affected[(row[1], row[2])].append(_affected_row(row))

    def vulns(self, ids: Iterable[str]) -> dict[str, VulnRow]:
        """Records by id (ids not in the index are absent from the answer)."""
        found: dict[str, VulnRow] = {}
        wanted = sorted(set(ids))
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            rows = self._query(
                f"""SELECT id, modified, published, summary, details, aliases,
                upstream, severity, refs, database_specific FROM vulns
                WHERE id IN ({",".join("?" * len(chunk))})""",
                chunk,
            )
            found.update((row[0], _vuln_row(row)) for row in rows)
        return found

    def borrowed_severity(self, cve_ids: Iterable[str]) -> dict[str, list[dict[str, str]]]:
        """OSV `severity[]` lists known for these CVE ids from any record that names them."""
        wanted = sorted(set(cve_ids))
        found: dict[str, list[dict[str, str]]] = {}
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            rows = self._query(
                "SELECT cve_id, severity FROM cve_severity WHERE cve_id IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update((cve, json.loads(sev)) for cve, sev in rows)
        return found

    def generation(self) -> str:
        """The imported generation ("" without a database); changes with every import."""
        self.refresh()
        return self.meta().get("generation", "") if self.available else ""

    def source_updated_at(self) -> float | None:
        """`vulnerabilitySourceUpdatedAt` as epoch seconds: the newest record's `modified`."""
        self.refresh()
        # Every scan asks; the answer only changes with an import, which clears the memo.
        if "source_updated_at" not in self.memo:
            meta = self.meta() if self.available else {}
            at = _epoch(meta.get("max_modified", "")) or _epoch(meta.get("imported_at", ""))
            self.memo["source_updated_at"] = at
        return self.memo["source_updated_at"]

    def meta(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM meta", []))

    def status(self) -> dict[str, Any]:
        """What is loaded: record counts and max `modified` per ecosystem, import time, log."""
        if self._conn is None:
            return {
                "path": str(self.path),
                "available": False,
                "record_count": 0,
                "ecosystems": {},
                "sources": [],
            }
        meta = self.meta()
        ecosystems = {
            eco: {"records": n, "max_modified": mod}
            for eco, n, mod in self._query(
                "SELECT ecosystem, records, max_modified FROM ecosystems ORDER BY ecosystem", []
            )
        }
        sources = [
            dict(
                zip(
                    ("path", "imported_at", "records", "skipped_bad", "skipped_withdrawn"),
                    row,
                    strict=True,
                )
            )
            for row in self._query("SELECT * FROM sources ORDER BY rowid", [])
        ]
        return {
            "path": str(self.path),
            "available": True,
            "generation": int(meta.get("generation", 0)),
            "imported_at": meta.get("imported_at", ""),
            "max_modified": meta.get("max_modified", ""),
            "record_count": int(meta.get("record_count", 0)),
            "ecosystems": ecosystems,
            "sources": sources,
        }

    def _query(self, sql: str, params: list[str]) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._conn is None:
                return []
            return self._conn.execute(sql, params).fetchall()


_OPEN: dict[Path, VulnIndex] = {}
_OPEN_LOCK = threading.Lock()


def open_index(data_dir: Path) -> VulnIndex:
    """The process-wide VulnIndex of `data_dir` (one connection and cache per database)."""
    path = Path(data_dir).resolve()
    with _OPEN_LOCK:
        index = _OPEN.get(path)
        if index is None:
            index = _OPEN[path] = VulnIndex(path)
    index.refresh()
    return index


def _epoch(text: str) -> float | None:
    # OSV timestamps are RFC 3339, sometimes with nanoseconds; keep microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _open(path: Path) -> sqlite3.Connection:
    # Read-only, shared across threads (all access goes through the index's lock).
    uri = path.resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


def _affected_row(row: tuple[Any, ...]) -> AffectedRow:
    vuln_id, eco, name, ranges, versions, specific, severity = row
    return AffectedRow(
        vuln_id,
        eco,
        name,
        tuple(_range(r) for r in json.loads(ranges)),
        frozenset(json.loads(versions)),
        json.loads(specific),
        tuple(json.loads(severity)),
    )


def _range(item: dict[str, Any]) -> dict[str, Any]:
    # Events as hashable (kind, value) pairs, so the matcher can cache their parsed, sorted form.
    return {"type": item["type"], "events": tuple(next(iter(e.items())) for e in item["events"])}


def _vuln_row(row: tuple[Any, ...]) -> VulnRow:
    vid, modified, published, summary, details, aliases, upstream, severity, refs, dbs = row
    return VulnRow(
        vid,
        modified,
        published,
        summary,
        details,
        tuple(json.loads(aliases)),
        tuple(json.loads(upstream)),
        tuple(json.loads(severity)),
        tuple(json.loads(refs)),
        json.loads(dbs),
    )
