"""replication_configurations and replication_tasks: PutReplicationConfiguration and its queue.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # schema's Id, as in 0001


def code_point_string(length: int) -> sa.types.TypeEngine[str]:
    """dialects.BinaryString, spelled out so this revision keeps creating this schema."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "replication_configurations",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_replication_configurations"),
    )
    op.create_table(
        "replication_tasks",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("repo_id", ID, nullable=False),
        sa.Column("repository", code_point_string(256), nullable=False),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("registry_id", sa.String(12), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("claimed_by", sa.String(256), nullable=True),
        sa.Column("claimed_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_replication_tasks"),
        sa.UniqueConstraint(
            "repo_id",
            "digest",
            "region",
            "registry_id",
            name="uq_replication_tasks_repo_id_digest_region_registry_id",
        ),
    )
    op.create_index(
        "ix_replication_tasks_status_next_attempt_at",
        "replication_tasks",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_replication_tasks_status_next_attempt_at", "replication_tasks")
    op.drop_table("replication_tasks")
    op.drop_table("replication_configurations")
