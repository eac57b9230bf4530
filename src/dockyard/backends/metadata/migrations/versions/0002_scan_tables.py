"""Scan tables: the last scan of each image, layer inventories, and the background job queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # schema's Id, as in 0001


def upgrade() -> None:
    op.create_table(
        "image_scans",
        sa.Column("image_id", ID, nullable=False),
        sa.Column("scan_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("completed_at", sa.Double(), nullable=True),
        sa.Column("source_updated_at", sa.Double(), nullable=True),
        sa.Column("severity_counts", sa.Text(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_image_scans_image_id_images")
        ),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_image_scans")),
    )
    op.create_index(
        op.f("ix_image_scans_scan_type_image_id"), "image_scans", ["scan_type", "image_id"]
    )
    op.create_table(
        "inventories",
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("inventory", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_inventories")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("claimed_by", sa.String(256), nullable=True),
        sa.Column("claimed_at", sa.Double(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )


def downgrade() -> None:
    for table in ("jobs", "inventories", "image_scans"):
        op.drop_table(table)
