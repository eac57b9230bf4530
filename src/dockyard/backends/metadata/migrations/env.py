"""Alembic environment: migrate the connection that dockyard.backends.metadata.migrate passes in.

There is no alembic.ini and no URL here on purpose: `migrate` opens the connection inside the
migration lock (dialects.migration_transaction), so every schema change, whoever starts it, runs
one at a time. On SQLite, changes to existing tables render as batch operations (copy, drop,
rename), the only way SQLite can alter a column or constraint.
"""

from __future__ import annotations

from alembic import context

from dockyard.backends.metadata.schema import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if context.is_offline_mode() or connection is None:
        raise RuntimeError(
            "run migrations with `dockyard db upgrade`, which takes the migration lock"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():  # a no-op: the caller's transaction holds the lock
        context.run_migrations()


run()
