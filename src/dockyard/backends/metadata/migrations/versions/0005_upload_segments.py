"""uploads.generation and uploads.segments: one writer per upload, each chunk in its own segment.

A chunk is written to a blob-store segment no other request touches, then acknowledged by a
compare-and-set on `generation` that appends the segment's name to `segments`; of two
requests racing on one upload only one can move it (services/uploads.py). Sessions from before
this revision have no segments recorded: they cannot be continued and are answered as unknown.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("segments", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("segments")
        batch.drop_column("generation")
