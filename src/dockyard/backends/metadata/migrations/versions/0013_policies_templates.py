"""registry_policies and creation_templates: cross-account access and repository templates.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0010"
branch_labels = None
depends_on = None


def code_point_string(length: int) -> sa.types.TypeEngine[str]:
    """dialects.BinaryString, spelled out so this revision keeps creating this schema."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "registry_policies",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("policy_text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_registry_policies"),
    )
    op.create_table(
        "creation_templates",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("prefix", code_point_string(256), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "prefix", name="pk_creation_templates"),
    )


def downgrade() -> None:
    op.drop_table("creation_templates")
    op.drop_table("registry_policies")
