"""Schema versions of the metadata database: upgrade, inspect and check, through Alembic.

    schema.py (the models) ──compare_metadata──> drift()      "models and migrations agree"
    migrations/versions/   ──upgrade/downgrade─> the database (alembic_version: its revision)

Every upgrade or downgrade runs in one transaction under the migration lock
(dialects.migration_transaction), so processes starting together migrate once: the first does the
work, the others wait, then find the database at head and do nothing. Start-up uses `upgrade` for
the embedded SQLite database and `require_head` for a database the operator named (DESIGN rule 7:
refuse to start on a schema this code does not match, with a message that says what to run).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine

from dockyard.backends.metadata import dialects, revision
from dockyard.backends.metadata.revision import SchemaNotCurrent
from dockyard.backends.metadata.schema import metadata as models

SCRIPT_LOCATION = Path(__file__).with_name("migrations")


__all__ = ["SchemaNotCurrent", "current", "downgrade", "drift", "head", "require_head", "upgrade"]


def config(connection: Connection | None = None) -> Config:
    """An Alembic configuration without an ini file; env.py migrates `connection`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision in migrations/versions (an error if history has forked)."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None, "migrations/versions holds no revision"
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision; None for a database no migration has touched."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(
    engine: Engine, target: str = "head", *, replay: bool = False
) -> tuple[str | None, str | None]:
    """Migrate forward to `target` under the migration lock: (revision before, revision after).

    A brand-new, empty SQLite database going to head is created from the models and recorded at
    head instead (much faster than replaying every migration: `dockyard.testing` starts a fresh
    one each time); tests/contract/test_migrations.py checks both paths give the same schema.
    `replay` runs every migration even then (the tests that check the migrations themselves).
    """

    def run(cfg: Config) -> None:
        conn = cfg.attributes["connection"]
        fast = target == "head" and not replay and revision.head_revision() == head()
        if fast and revision.fresh_sqlite(conn):
            revision.create_at_head(conn)  # see revision.py
        else:
            command.upgrade(cfg, target)

    return _migrate(engine, run)


def downgrade(engine: Engine, target: str) -> tuple[str | None, str | None]:
    """Migrate back to `target` ("base" drops every table) under the migration lock."""
    return _migrate(engine, lambda cfg: command.downgrade(cfg, target))


def require_head(engine: Engine) -> None:
    """Raise SchemaNotCurrent, saying what to run, unless the database is exactly at head."""
    found, wanted = current(engine), head()
    if found == wanted:
        return
    where = f"metadata database {dialects.display_url(engine.url)}"
    if found is not None and not _known(found):
        raise SchemaNotCurrent(
            f"{where} is at schema revision {found}, which this Dockyard does not know (a newer "
            f"version migrated it): run that version, or this one against another database"
        )
    raise SchemaNotCurrent(
        f"{where} is at schema revision {found or 'none (empty)'}, this Dockyard needs {wanted}: "
        f"run `dockyard db upgrade --database-url {dialects.display_url(engine.url)}`"
    )


def drift(engine: Engine, target: sa.MetaData = models) -> list[str]:
    """How the database's tables differ from the models `target`, one line per difference.

    Run on a database at head, an empty list means the models and the migrations agree; anything
    else is a schema change that has no migration yet (or a migration the models do not match).
    """
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return [describe(diff) for diff in compare_metadata(context, target)]


def draft_revision(message: str) -> Path:
    """Autogenerate the next revision from the models' drift against a scratch database at head.

    A draft to review by hand before committing: SQLite renders changes as batch operations and
    renders dialects' types by their import path; keep revisions small and reversible.
    """
    number = len(list(ScriptDirectory.from_config(config()).walk_revisions())) + 1
    with tempfile.TemporaryDirectory(prefix="dockyard-revision-") as scratch:
        engine = dialects.create_engine(f"sqlite:///{scratch}/draft.db")
        try:
            upgrade(engine)
            with dialects.migration_transaction(engine) as conn:
                script = command.revision(
                    config(conn), message, autogenerate=True, rev_id=f"{number:04d}"
                )
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def describe(diff: Any) -> str:
    """One line for an autogenerate difference: ('add_column', schema, table, Column) and kin.

    Column type and nullability changes come as a list of one tuple each, so lists are unpacked.
    """
    if isinstance(diff, list):
        return "; ".join(describe(part) for part in diff)
    operation, *details = diff
    return " ".join([operation, *(_name(d) for d in details if d is not None and d != {})])


def _name(item: Any) -> str:
    if isinstance(item, sa.Table):
        return f"table {item.name}"
    if isinstance(item, sa.Column):
        return f"column {item.table.name}.{item.name}" if item.table is not None else item.name
    if isinstance(item, (sa.Index, sa.Constraint)):
        return f"{type(item).__name__} {item.name}"
    return str(item)


def _migrate(engine: Engine, run: Any) -> tuple[str | None, str | None]:
    with dialects.migration_transaction(engine) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        if before is None:
            _require_empty(conn)
        run(config(conn))
        return before, MigrationContext.configure(conn).get_current_revision()


def _require_empty(conn: Connection) -> None:
    """Refuse to migrate tables no migration made: CREATE TABLE would fail half-way, or worse."""
    if set(sa.inspect(conn).get_table_names()) & set(models.tables):
        raise SchemaNotCurrent(
            f"metadata database {dialects.display_url(conn.engine.url)} has Dockyard tables but "
            "no schema revision (it was not created by `dockyard db upgrade`): move it aside and "
            "start from an empty database"
        )


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(config()).get_revision(revision) is not None
    except CommandError:
        return False
