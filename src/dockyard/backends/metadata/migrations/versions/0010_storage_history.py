"""gc_runs, storage_totals: what each garbage collection freed and stored bytes over time.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gc_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("finished_at", sa.Double(), nullable=False),
        sa.Column("blobs_freed", sa.BigInteger(), nullable=False),
        sa.Column("bytes_freed", sa.BigInteger(), nullable=False),
        sa.Column("uploads_expired", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gc_runs"),
    )
    op.create_table(
        "storage_totals",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("recorded_at", sa.Double(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "recorded_at", name="pk_storage_totals"),
    )


def downgrade() -> None:
    op.drop_table("storage_totals")
    op.drop_table("gc_runs")
