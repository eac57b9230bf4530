"""Initial schema: repositories, blobs, images, tags, references, uploads, account rows.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Types are spelled out here rather than imported from schema.py, so this revision keeps creating
exactly this schema whatever the models become: `ID` is schema's `Id`, `code_point_string` is
dialects.BinaryString (the "C" collation on PostgreSQL sorts by code point like SQLite does).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DIGEST = 200
NAME = 256


def code_point_string(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    _account_tables()
    _repository_tables()
    _image_tables()


def downgrade() -> None:
    # Children before parents, so PostgreSQL's foreign keys never point at a dropped table.
    for table in (
        "tags",
        "image_refs",
        "images",
        "uploads",
        "repository_tags",
        "repo_blobs",
        "repositories",
        "blobs",
        "secrets",
        "pull_exclusions",
        "account_settings",
    ):
        op.drop_table(table)


def _account_tables() -> None:
    op.create_table(
        "account_settings",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "name", name=op.f("pk_account_settings")),
    )
    op.create_table(
        "pull_exclusions",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("principal", code_point_string(NAME), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "principal", name=op.f("pk_pull_exclusions")),
    )
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_secrets")),
    )


def _repository_tables() -> None:
    op.create_table(
        "repositories",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("name", code_point_string(NAME), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("tag_mutability", sa.String(32), server_default="MUTABLE", nullable=False),
        sa.Column("mutability_exclusions", sa.Text(), server_default="[]", nullable=False),
        sa.Column("scan_on_push", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("encryption", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repositories")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_repositories_account_id_name")),
    )
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(DIGEST), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_blobs")),
    )
    op.create_table(
        "repo_blobs",
        sa.Column("repo_id", ID, nullable=False),
        sa.Column("digest", sa.String(DIGEST), nullable=False),
        _repository_key("repo_blobs"),
        sa.ForeignKeyConstraint(
            ["digest"], ["blobs.digest"], name=op.f("fk_repo_blobs_digest_blobs")
        ),
        sa.PrimaryKeyConstraint("repo_id", "digest", name=op.f("pk_repo_blobs")),
    )
    op.create_index(op.f("ix_repo_blobs_digest"), "repo_blobs", ["digest"])
    op.create_table(
        "repository_tags",
        sa.Column("repo_id", ID, nullable=False),
        sa.Column("key", code_point_string(128), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        _repository_key("repository_tags"),
        sa.PrimaryKeyConstraint("repo_id", "key", name=op.f("pk_repository_tags")),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("repo_id", ID, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        _repository_key("uploads"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )


def _image_tables() -> None:
    op.create_table(
        "images",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("repo_id", ID, nullable=False),
        sa.Column("digest", sa.String(DIGEST), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.Column("media_type", sa.String(NAME), nullable=False),
        sa.Column("artifact_media_type", sa.String(NAME), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("pushed_at", sa.Double(), nullable=False),
        sa.Column("last_pulled_at", sa.Double(), nullable=True),
        sa.Column("subject_digest", sa.String(DIGEST), nullable=True),
        sa.Column("status", sa.String(32), server_default="ACTIVE", nullable=False),
        sa.Column("archived_at", sa.Double(), nullable=True),
        sa.Column("activated_at", sa.Double(), nullable=True),
        _repository_key("images"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("repo_id", "digest", name=op.f("uq_images_repo_id_digest")),
    )
    # The listing indexes (see schema.py): with and without the status prefix, and referrers.
    op.create_index(
        op.f("ix_images_repo_id_status_pushed_at_id"),
        "images",
        ["repo_id", "status", "pushed_at", "id"],
    )
    op.create_index(
        op.f("ix_images_repo_id_pushed_at_id"), "images", ["repo_id", "pushed_at", "id"]
    )
    op.create_index(
        op.f("ix_images_repo_id_subject_digest"), "images", ["repo_id", "subject_digest"]
    )
    op.create_table(
        "image_refs",
        sa.Column("image_id", ID, nullable=False),
        sa.Column("digest", sa.String(DIGEST), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _image_key("image_refs"),
        sa.PrimaryKeyConstraint("image_id", "digest", "kind", name=op.f("pk_image_refs")),
    )
    op.create_index(op.f("ix_image_refs_digest"), "image_refs", ["digest"])
    op.create_table(
        "tags",
        sa.Column("repo_id", ID, nullable=False),
        sa.Column("name", code_point_string(NAME), nullable=False),
        sa.Column("image_id", ID, nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        _repository_key("tags"),
        _image_key("tags"),
        sa.PrimaryKeyConstraint("repo_id", "name", name=op.f("pk_tags")),
    )
    op.create_index(op.f("ix_tags_image_id_name"), "tags", ["image_id", "name"])


def _repository_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["repo_id"], ["repositories.id"], name=op.f(f"fk_{table}_repo_id_repositories")
    )


def _image_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["image_id"], ["images.id"], name=op.f(f"fk_{table}_image_id_images")
    )
