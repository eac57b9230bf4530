"""Account settings, pull-time exclusions and server secrets; each runs in the caller's
transaction. None of these rows belongs to a repository, so deleting one leaves them alone."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dockyard.backends.metadata.dialects import insert_ignore, upsert
from dockyard.backends.metadata.schema import account_settings, pull_exclusions, secrets

# Built once: every push reads the registry scanning configuration (see _images.py on why).
_SETTING = sa.select(account_settings.c.value).where(
    account_settings.c.account_id == sa.bindparam("b_account"),
    account_settings.c.name == sa.bindparam("b_name"),
)


def get_account_setting(conn: Connection, account_id: str, name: str) -> str | None:
    return conn.execute(_SETTING, {"b_account": account_id, "b_name": name}).scalar()


def put_account_setting(conn: Connection, account_id: str, name: str, value: str) -> None:
    stmt = upsert(conn, account_settings, ["account_id", "name"], ["value"])
    conn.execute(stmt.values(account_id=account_id, name=name, value=value))


def add_pull_exclusion(conn: Connection, account_id: str, principal: str, now: float) -> bool:
    # RETURNING rather than rowcount: some drivers report -1 for INSERT ... ON CONFLICT.
    stmt = insert_ignore(conn, pull_exclusions, ["account_id", "principal"]).values(
        account_id=account_id, principal=principal, created_at=now
    )
    return conn.execute(stmt.returning(pull_exclusions.c.principal)).first() is not None


def remove_pull_exclusion(conn: Connection, account_id: str, principal: str) -> bool:
    where = (pull_exclusions.c.account_id == account_id) & (
        pull_exclusions.c.principal == principal
    )
    return conn.execute(sa.delete(pull_exclusions).where(where)).rowcount > 0


def list_pull_exclusions(
    conn: Connection, account_id: str, after: str | None, limit: int
) -> list[str]:
    stmt = sa.select(pull_exclusions.c.principal).where(pull_exclusions.c.account_id == account_id)
    if after is not None:
        stmt = stmt.where(pull_exclusions.c.principal > after)
    stmt = stmt.order_by(pull_exclusions.c.principal).limit(limit)
    return list(conn.execute(stmt).scalars())


def secret(conn: Connection, name: str, create: bytes) -> bytes:
    """Insert-or-ignore then read back: of racing first callers, every one gets the winner's."""
    conn.execute(insert_ignore(conn, secrets, ["name"]).values(name=name, value=create))
    stored = conn.execute(sa.select(secrets.c.value).where(secrets.c.name == name)).scalar_one()
    return bytes(stored)  # some drivers hand back memoryview
