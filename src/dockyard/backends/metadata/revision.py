"""The schema revision without Alembic: a fast start for a brand-new embedded database.

    empty SQLite file ──create_fresh──> models' tables + alembic_version = head   (no migration)
    database at head  ──at_head───────> True: nothing to do, Alembic never imported
    anything else     ──> migrate.py (Alembic): upgrade, or require_head's message

Importing Alembic (and Mako, Pygments through it) and replaying every migration cost a fresh
server most of its start; `dockyard.testing` starts one per test session. The head revision is
read from the migration files' `revision = "..."` lines; when that is not one clear head (a
merge, an unusual file) everything goes through Alembic as before. tests/contract/
test_migrations.py checks that this head is Alembic's and that the fresh schema equals the
migrated one.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dockyard.backends.metadata import dialects
from dockyard.backends.metadata.schema import metadata as models

VERSIONS = Path(__file__).with_name("migrations") / "versions"
_ANNOTATION = r"(?:\s*:[^=\n]*)?"  # `revision: str = ...` as Alembic's newer template writes it
_REVISION = re.compile(rf"^revision{_ANNOTATION}\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(
    rf"^down_revision{_ANNOTATION}\s*=\s*(?:['\"]([^'\"]+)['\"]|None)\s*$", re.MULTILINE
)

# Alembic's own version table, as `alembic stamp` creates it.
_version_metadata = sa.MetaData()
version_table = sa.Table(
    "alembic_version",
    _version_metadata,
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


class SchemaNotCurrent(RuntimeError):
    """The database's schema revision is not the one this code needs; the message says why."""


@functools.cache
def head_revision() -> str | None:
    """The one revision no other revision names as its parent; None unless that is clear-cut."""
    revisions, parents = set(), set()
    for path in VERSIONS.glob("[!_]*.py"):  # not __init__.py
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is None or down is None:  # a merge revision, or written differently
            return None
        revisions.add(revision.group(1))
        if down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in alembic_version; None without that table or with several rows."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(sa.select(version_table.c.version_num)).scalars().all()
    return rows[0] if len(rows) == 1 else None


def at_head(engine: Engine) -> bool:
    head = head_revision()
    with engine.connect() as conn:
        return head is not None and current_revision(conn) == head


def fresh_sqlite(conn: Connection) -> bool:
    """An SQLite database with no table at all: nothing to migrate from."""
    return conn.dialect.name == "sqlite" and not sa.inspect(conn).get_table_names()


def create_fresh(engine: Engine) -> bool:
    """Create the head schema in a brand-new SQLite database, under the migration lock.

    False (and nothing done) for any other database: that one is migrated by Alembic.
    """
    if engine.dialect.name != "sqlite" or head_revision() is None:
        return False
    with dialects.migration_transaction(engine) as conn:
        if not fresh_sqlite(conn):
            return False
        create_at_head(conn)
        return True


def create_at_head(conn: Connection) -> None:
    """The models' tables and alembic_version at head, in the caller's transaction."""
    head = head_revision()
    assert head is not None, "no single head revision in migrations/versions"
    models.create_all(conn)
    _version_metadata.create_all(conn)
    conn.execute(version_table.insert().values(version_num=head))
