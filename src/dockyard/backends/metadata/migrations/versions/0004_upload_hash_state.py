"""uploads.hash_state: the saved SHA-256 state of an upload's bytes so far.

Lets a process that did not receive an upload's earlier chunks go on hashing where the other
left off instead of reading the whole upload back (see ingest/sha256_state.py). Nullable: a
session from before this revision, or from a platform without a saveable hash, has none.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("hash_state", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("hash_state")
