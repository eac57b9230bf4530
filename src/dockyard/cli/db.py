"""`dockyard db ...`: the metadata database's schema revision, for operators and CI.

    dockyard db upgrade   [--database-url URL | --data-dir DIR]   migrate to head (under the lock)
    dockyard db current   [--database-url URL | --data-dir DIR]   print the revision
    dockyard db check     [--database-url URL | --data-dir DIR]   exit 1 unless at head AND the
                                                                  models match the migrations
    dockyard db revision  -m MESSAGE                              draft the next migration

Exit codes: 0 fine; 1 the check failed (not at head, or drift); 2 the database cannot be used
(bad URL, unreachable, no such file).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.config import add_config_option
from dockyard.data_dir import secure_data_dir
from dockyard.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

OK, CHECK_FAILED, UNUSABLE = 0, 1, 2


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `db` and its subcommands on the `dockyard` parser."""
    db = sub.add_parser("db", help="manage the metadata database schema (migrations)")
    commands = db.add_subparsers(dest="db_command", required=True)
    for name, summary in (
        ("upgrade", "migrate the schema to the newest revision"),
        ("current", "print the schema revision of the database"),
        ("check", "fail unless the database is at head and the models match the migrations"),
    ):
        _database_options(commands.add_parser(name, help=summary))
    revision = commands.add_parser("revision", help="draft a migration from the models' changes")
    revision.add_argument("-m", "--message", required=True, help="what the migration changes")


def run(args: argparse.Namespace) -> int:
    from dockyard.backends.configuration import ConfigurationError

    if args.db_command == "revision":
        return _revision(args.message)
    url = _url(args)
    if args.db_command != "upgrade" and (missing := _missing_sqlite_file(url)):
        # Connecting would create an empty file there: report the mistyped path instead.
        return _say(f"no database at {missing} (`dockyard db upgrade` creates it)", UNUSABLE)
    try:
        return _COMMANDS[args.db_command](url)
    except ConfigurationError as exc:
        return _say(str(exc), UNUSABLE)


def _database_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database-url", help="metadata database (sqlite:///PATH, postgresql://)")
    where.add_argument("--data-dir", type=Path, default=Path("./dockyard-data"),
                       help="use the embedded SQLite database of this data directory")  # fmt: skip
    add_config_option(parser)


def _url(args: argparse.Namespace) -> str:
    if args.database_url:
        return args.database_url
    if args.db_command == "upgrade":
        secure_data_dir(args.data_dir)  # as `serve` does on first start
    return Settings(data_dir=args.data_dir).resolved_database_url


def _missing_sqlite_file(url: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # reported when the engine is made
    path = parsed.database if parsed.get_backend_name() == "sqlite" else None
    return path if path and not Path(path).exists() else None


def _upgrade(url: str) -> int:
    from dockyard.backends.metadata import migrate

    with _engine(url) as engine:
        before, after = migrate.upgrade(engine)
    if before == after:
        return _say(f"{_shown(url)} is already at head ({after})", OK)
    return _say(f"{_shown(url)} upgraded from {before or 'an empty database'} to {after}", OK)


def _current(url: str) -> int:
    from dockyard.backends.metadata import migrate

    with _engine(url) as engine:
        found = migrate.current(engine)
    head = migrate.head()
    state = "head" if found == head else f"head is {head}"
    print(f"{found or 'none (empty database)'} ({state})")
    return OK


def _check(url: str) -> int:
    from dockyard.backends.metadata import migrate

    with _engine(url) as engine:
        try:
            migrate.require_head(engine)
        except migrate.SchemaNotCurrent as exc:
            return _say(str(exc), CHECK_FAILED)
        differences = migrate.drift(engine)
    if not differences:
        return _say(f"{_shown(url)} is at head and matches the models", OK)
    listed = "".join(f"\n  - {line}" for line in differences)
    return _say(
        f"the models (schema.py) and the migrations disagree on {_shown(url)}:{listed}\n"
        "add a migration for the change: `dockyard db revision -m MESSAGE` drafts one in "
        "src/dockyard/backends/metadata/migrations/versions/ (review it by hand)",
        CHECK_FAILED,
    )


def _revision(message: str) -> int:
    from dockyard.backends.metadata import migrate

    path = migrate.draft_revision(message)
    return _say(f"drafted {path}: review it by hand (types, server defaults, downgrade)", OK)


_COMMANDS: dict[str, Callable[[str], int]] = {
    "upgrade": _upgrade,
    "current": _current,
    "check": _check,
}


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    """An engine for `url`, disposed on exit; database failures become ConfigurationError."""
    from dockyard.backends.factory import database_errors
    from dockyard.backends.metadata import dialects

    with database_errors(url):
        engine = dialects.create_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _shown(url: str) -> str:
    from dockyard.backends.metadata.dialects import display_url

    return f"metadata database {display_url(url)}"


def _say(message: str, code: int) -> int:
    print(f"dockyard: {message}", file=sys.stderr if code else sys.stdout)
    return code
