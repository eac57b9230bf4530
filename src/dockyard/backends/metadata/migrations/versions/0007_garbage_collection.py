"""Garbage collection: blob states, publication pins and named leases.

blobs gains state (live | candidate | deleting), gen (bumped by every state change, for the
sweep's compare-and-set) and touched_at (last observation; NULL means "since created_at").
blob_pins protect blobs an upload is publishing; leases let one process at a time collect.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="live"))
        batch.add_column(sa.Column("gen", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("touched_at", sa.Double(), nullable=True))
        batch.create_index("ix_blobs_state_digest", ["state", "digest"])
    op.create_table(
        "blob_pins",
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_blob_pins"),
    )
    op.create_index("ix_blob_pins_digest", "blob_pins", ["digest"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(256), nullable=True),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_blob_pins_digest", table_name="blob_pins")
    op.drop_table("blob_pins")
    with op.batch_alter_table("blobs") as batch:
        batch.drop_index("ix_blobs_state_digest")
        batch.drop_column("touched_at")
        batch.drop_column("gen")
        batch.drop_column("state")
