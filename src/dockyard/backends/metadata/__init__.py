"""Metadata store backends: one SQL implementation for SQLite and PostgreSQL (SQLAlchemy Core).

schema.py    the tables (the single source of truth for the layout)
dialects.py  engine set-up and the few statements that differ per database engine
_rows.py     row -> domain record mapping
_images.py   image, tag and reference queries (save_image's transaction lives here)
sql.py       SqlMetadataStore: transactions plus the small queries, implementing the port
"""

from dockyard.backends.metadata.sql import SqlMetadataStore

__all__ = ["SqlMetadataStore"]
