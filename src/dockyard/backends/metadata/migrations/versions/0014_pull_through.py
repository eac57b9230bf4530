"""pull_through_rules and pull_through_checks: the pull-through cache.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def code_point_string(length: int) -> sa.types.TypeEngine[str]:
    """dialects.BinaryString, spelled out so this revision keeps creating this schema."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pull_through_rules",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("prefix", code_point_string(256), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "prefix", name="pk_pull_through_rules"),
    )
    op.create_table(
        "pull_through_checks",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("repository", code_point_string(256), nullable=False),
        sa.Column("tag", code_point_string(256), nullable=False),
        sa.Column("checked_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "repository", "tag", name="pk_pull_through_checks"),
    )


def downgrade() -> None:
    op.drop_table("pull_through_checks")
    op.drop_table("pull_through_rules")
