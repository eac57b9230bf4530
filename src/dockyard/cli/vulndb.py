"""`dockyard vulndb ...`: the offline vulnerability index scans match against.

    dockyard vulndb import PATH... [--data-dir DIR] [--replace]   OSV zips / dirs / .json files
    dockyard vulndb status [--data-dir DIR] [--json]              what is loaded

`import` merges the records into `<data-dir>/vulndb.sqlite` (upsert by id; withdrawn records
remove their id; `--replace` starts from empty) and swaps the file in atomically, so a running
server picks the new data up at its next scan without a restart. Bad records are skipped and
counted, never fatal. Exit codes: 0 fine, 1 some records were skipped as bad, 2 unusable input.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import zipfile
from pathlib import Path
from typing import Any

from dockyard.config import add_config_option
from dockyard.data_dir import secure_data_dir

OK, SKIPPED_BAD, UNUSABLE = 0, 1, 2


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `vulndb` and its subcommands on the `dockyard` parser."""
    vulndb = sub.add_parser("vulndb", help="manage the offline vulnerability database (OSV)")
    commands = vulndb.add_subparsers(dest="vulndb_command", required=True)
    load = commands.add_parser(
        "import",
        help="import OSV records (per-ecosystem all.zip, directories of JSON, .json files)",
    )
    load.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    load.add_argument(
        "--replace", action="store_true", help="rebuild from these sources only instead of merging"
    )
    status = commands.add_parser("status", help="show what is loaded")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    for command in (load, status):
        command.add_argument(
            "--data-dir",
            type=Path,
            default=Path("./dockyard-data"),
            help="where vulndb.sqlite lives (same as `serve --data-dir`)",
        )
        add_config_option(command)


def run(args: argparse.Namespace) -> int:
    return {"import": _import, "status": _status}[args.vulndb_command](args)


def _import(args: argparse.Namespace) -> int:
    from dockyard.backends.scanner.osv_index import import_sources
    from dockyard.progress import Progress

    secure_data_dir(args.data_dir)
    try:
        with Progress() as bar:
            report = import_sources(args.paths, args.data_dir, replace=args.replace, progress=bar)
    except (OSError, ValueError, zipfile.BadZipFile, sqlite3.DatabaseError) as exc:
        print(f"dockyard vulndb import: {exc}", file=sys.stderr)
        return UNUSABLE
    print(
        f"imported {report.imported} records into {report.path} (generation "
        f"{report.generation}); skipped {report.skipped_withdrawn} withdrawn, "
        f"{report.skipped_bad} bad; ignored {report.ignored_files} non-JSON files"
    )
    for error in report.errors:
        print(f"  skipped: {error}", file=sys.stderr)
    return SKIPPED_BAD if report.skipped_bad else OK


def _status(args: argparse.Namespace) -> int:
    from dockyard.backends.scanner.osv_index import VulnIndex

    index = VulnIndex(args.data_dir)
    try:
        status = index.status()
    except sqlite3.DatabaseError as exc:
        print(f"dockyard vulndb status: {index.path}: {exc}", file=sys.stderr)
        return UNUSABLE
    finally:
        index.close()
    print(json.dumps(status, indent=2) if args.json else _render(status))
    return OK


def _render(status: dict[str, Any]) -> str:
    if not status["available"]:
        return f"no vulnerability database at {status['path']} (run `dockyard vulndb import`)"
    head = (
        f"{status['path']}: {status['record_count']} records, generation "
        f"{status['generation']}, imported {status['imported_at']}, newest record "
        f"modified {status['max_modified']}"
    )
    lines = [head]
    width = max((len(e) for e in status["ecosystems"]), default=0)
    for ecosystem, info in status["ecosystems"].items():
        lines.append(f"  {ecosystem:<{width}}  {info['records']:>8}  {info['max_modified']}")
    return "\n".join(lines)
