"""Lifecycle policies, their previews, and archived images being restored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # schema's Id, as in 0001


def upgrade() -> None:
    op.create_table(
        "lifecycle_policies",
        sa.Column("repo_id", Id, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("last_evaluated_at", sa.Double(), nullable=True),
        sa.Column("claimed_by", sa.String(256), nullable=True),
        sa.Column("claimed_until", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repositories.id"], name="fk_lifecycle_policies_repo_id_repositories"
        ),
        sa.PrimaryKeyConstraint("repo_id", name="pk_lifecycle_policies"),
    )
    op.create_table(
        "lifecycle_previews",
        sa.Column("repo_id", Id, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("claimed_by", sa.String(256), nullable=True),
        sa.Column("claimed_until", sa.Double(), nullable=True),
        sa.Column("results", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repositories.id"], name="fk_lifecycle_previews_repo_id_repositories"
        ),
        sa.PrimaryKeyConstraint("repo_id", name="pk_lifecycle_previews"),
    )
    op.create_table(
        "image_activations",
        sa.Column("repo_id", Id, nullable=False),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("due_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("repo_id", "digest", name="pk_image_activations"),
    )
    op.create_index("ix_image_activations_due_at", "image_activations", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_image_activations_due_at", table_name="image_activations")
    op.drop_table("image_activations")
    op.drop_table("lifecycle_previews")
    op.drop_table("lifecycle_policies")
