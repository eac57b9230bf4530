"""Pull-through cache rules and tag checks (PullThroughRuleStore), mixed into SqlMetadataStore.

pull_through_rules   (account_id, prefix) -> the rule's fields as one JSON document
pull_through_checks  (account_id, repository, tag) -> when the tag was compared upstream
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from dockyard.backends.metadata import dialects
from dockyard.backends.metadata.schema import pull_through_checks, pull_through_rules
from dockyard.domain.pull_through import PullThroughRule

_RULES = pull_through_rules.c
_CHECKS = pull_through_checks.c


class PullThroughMethods:
    """The PullThroughRuleStore port (see ports.py)."""

    _read: Callable[[], AbstractContextManager[Connection]]  # SqlMetadataStore's transactions
    _write: Callable[[], AbstractContextManager[Connection]]

    def list_pull_through_rules(self, account_id: str) -> list[PullThroughRule]:
        stmt = (
            sa.select(pull_through_rules)
            .where(_RULES.account_id == account_id)
            .order_by(_RULES.prefix)
        )
        with self._read() as conn:
            return [_rule(row) for row in conn.execute(stmt)]

    def create_pull_through_rule(self, account_id: str, rule: PullThroughRule) -> bool:
        values = {"account_id": account_id, **_columns(rule)}
        with self._write() as conn:
            # RETURNING says whether the row went in (a rowcount of ON CONFLICT DO NOTHING is
            # not reliable across drivers).
            inserted = conn.execute(
                dialects.insert_ignore(conn, pull_through_rules, ["account_id", "prefix"])
                .values(values)
                .returning(_RULES.prefix)
            )
            return inserted.scalar() is not None

    def replace_pull_through_rule(self, account_id: str, rule: PullThroughRule) -> bool:
        columns = _columns(rule)
        del columns["created_at"]
        stmt = (
            sa.update(pull_through_rules)
            .where(_RULES.account_id == account_id, _RULES.prefix == rule.prefix)
            .values(**columns)
        )
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    def delete_pull_through_rule(self, account_id: str, prefix: str) -> bool:
        stmt = sa.delete(pull_through_rules).where(
            _RULES.account_id == account_id, _RULES.prefix == prefix
        )
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    def tag_checked_at(self, account_id: str, repository: str, tag: str) -> float | None:
        stmt = sa.select(_CHECKS.checked_at).where(
            _CHECKS.account_id == account_id, _CHECKS.repository == repository, _CHECKS.tag == tag
        )
        with self._read() as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def record_tag_check(self, account_id: str, repository: str, tag: str, now: float) -> None:
        key = {"account_id": account_id, "repository": repository, "tag": tag}
        with self._write() as conn:
            conn.execute(
                dialects.upsert(conn, pull_through_checks, list(key), ["checked_at"]).values(
                    **key, checked_at=now
                )
            )


def _columns(rule: PullThroughRule) -> dict[str, object]:
    document = {
        "upstreamRegistryUrl": rule.upstream_url,
        "upstreamRegistry": rule.upstream_registry,
        "upstreamRepositoryPrefix": rule.upstream_prefix,
        "credentialArn": rule.credential_arn,
        "customRoleArn": rule.custom_role_arn,
    }
    return {
        "prefix": rule.prefix,
        "document": json.dumps(document),
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def _rule(row: Row) -> PullThroughRule:
    doc = json.loads(row.document)
    return PullThroughRule(
        prefix=row.prefix,
        upstream_url=doc["upstreamRegistryUrl"],
        upstream_registry=doc["upstreamRegistry"],
        upstream_prefix=doc["upstreamRepositoryPrefix"],
        credential_arn=doc["credentialArn"],
        custom_role_arn=doc["customRoleArn"],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
