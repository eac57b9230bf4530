"""Alembic migrations of the metadata schema; run them through dockyard.backends.metadata.migrate.

env.py       runs the revisions on the connection `migrate` hands it (inside the migration lock)
versions/    one small, reversible revision per schema change, oldest first
"""
