"""Scan findings stored once: finding_documents, and image_scans.finding_keys instead of findings.

A rescan of a fleet reports the same few thousand findings hundreds of thousands of times; each
scan row held all of them as one JSON array (~1 KB a finding). Now each finding's JSON is a row
of finding_documents keyed by a hash of its text, and a scan keeps the list of keys. Upgrade
splits every stored array into its items, downgrade joins them back into the same text.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PAGE = 200  # scan rows converted per query: a scan's findings can be megabytes of JSON

# The tables as this revision sees them (not schema.py's, which moves on).
scans = sa.table(
    "image_scans",
    sa.column("image_id", sa.Integer),
    sa.column("started_at", sa.Double),
    sa.column("completed_at", sa.Double),
    sa.column("findings", sa.Text),
    sa.column("finding_keys", sa.Text),
)
documents = sa.table(
    "finding_documents",
    sa.column("key", sa.String),
    sa.column("document", sa.Text),
    sa.column("used_at", sa.Double),
)


def document_key(document: str) -> str:
    # As services/scanning.py makes keys (equal keys must mean equal text; 96 bits of sha256).
    return base64.urlsafe_b64encode(hashlib.sha256(document.encode()).digest()[:12]).decode()


def upgrade() -> None:
    op.create_table(
        "finding_documents",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("used_at", sa.Double(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_finding_documents")),
    )
    op.create_index(op.f("ix_finding_documents_used_at"), "finding_documents", ["used_at"])
    with op.batch_alter_table("image_scans") as batch:
        batch.add_column(sa.Column("finding_keys", sa.Text(), nullable=True))
    conn, stored = op.get_bind(), set[str]()
    columns = (scans.c.image_id, scans.c.findings, scans.c.completed_at, scans.c.started_at)
    for rows in _pages(conn, columns):
        for image_id, findings, completed_at, started_at in rows:
            # json.dumps of each item gives back the exact text it had inside the array.
            texts = [json.dumps(item) for item in json.loads(findings)]
            keys = [document_key(text) for text in texts]
            new = [{"key": k, "document": t, "used_at": completed_at or started_at}
                   for k, t in dict(zip(keys, texts)).items() if k not in stored]  # fmt: skip
            if new:
                conn.execute(documents.insert(), new)
                stored.update(row["key"] for row in new)
            value = json.dumps(keys, separators=(",", ":"))
            conn.execute(
                scans.update().where(scans.c.image_id == image_id).values(finding_keys=value)
            )
    with op.batch_alter_table("image_scans") as batch:
        batch.alter_column("finding_keys", existing_type=sa.Text(), nullable=False)
        batch.drop_column("findings")


def downgrade() -> None:
    with op.batch_alter_table("image_scans") as batch:
        batch.add_column(sa.Column("findings", sa.Text(), nullable=True))
    conn = op.get_bind()
    for rows in _pages(conn, (scans.c.image_id, scans.c.finding_keys)):
        for image_id, finding_keys in rows:
            keys = json.loads(finding_keys)
            query = sa.select(documents.c.key, documents.c.document)
            found = dict(conn.execute(query.where(documents.c.key.in_(set(keys)))).all())
            text = "[" + ", ".join(found[key] for key in keys) + "]"
            conn.execute(scans.update().where(scans.c.image_id == image_id).values(findings=text))
    with op.batch_alter_table("image_scans") as batch:
        batch.alter_column("findings", existing_type=sa.Text(), nullable=False)
        batch.drop_column("finding_keys")
    op.drop_index(op.f("ix_finding_documents_used_at"), table_name="finding_documents")
    op.drop_table("finding_documents")


def _pages(conn: sa.Connection, columns: tuple) -> Iterator[Sequence[sa.Row]]:
    after = None
    while True:
        query = sa.select(*columns).order_by(scans.c.image_id).limit(PAGE)
        if after is not None:
            query = query.where(scans.c.image_id > after)
        rows = conn.execute(query).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]
