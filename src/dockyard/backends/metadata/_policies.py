"""Registry policies (RegistryPolicyStore) and creation templates (CreationTemplateStore), mixed
into SqlMetadataStore.

    registry_policies   account_id -> policy text (validated by the service before it lands)
    creation_templates  (account_id, prefix) -> the template's settings as one JSON document
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from dockyard.backends.metadata.schema import creation_templates, registry_policies, repositories
from dockyard.domain.templates import AppliedFor, CreationTemplate

# Read on every request by the access check: built once (see _images.py on prebuilt statements).
_REGISTRY_POLICY = sa.select(registry_policies.c.policy_text).where(
    registry_policies.c.account_id == sa.bindparam("b_account")
)
# Both policies of a request in one statement (two scalar subqueries: a row even when neither
# exists): each read costs the server far more in its connection checkout and transaction than
# in the query, and this one runs on every request of either protocol.
_ACCESS_POLICIES = sa.select(
    _REGISTRY_POLICY.scalar_subquery(),
    sa.select(repositories.c.policy)
    .where(
        repositories.c.account_id == sa.bindparam("b_account"),
        repositories.c.name == sa.bindparam("b_name"),
    )
    .scalar_subquery(),
)


class PolicyMethods:
    """The RegistryPolicyStore and CreationTemplateStore ports (see ports.py)."""

    _read: Callable[[], AbstractContextManager[Connection]]  # SqlMetadataStore's transactions
    _write: Callable[[], AbstractContextManager[Connection]]

    def get_registry_policy(self, account_id: str) -> str | None:
        with self._read() as conn:
            return conn.execute(_REGISTRY_POLICY, {"b_account": account_id}).scalar_one_or_none()

    def get_access_policies(
        self, account_id: str, repository: str | None
    ) -> tuple[str | None, str | None]:
        with self._read() as conn:
            row = conn.execute(
                _ACCESS_POLICIES, {"b_account": account_id, "b_name": repository}
            ).one()
        return row[0], row[1]

    def put_registry_policy(self, account_id: str, text: str, now: float) -> None:
        with self._write() as conn:
            conn.execute(
                sa.delete(registry_policies).where(registry_policies.c.account_id == account_id)
            )
            conn.execute(
                sa.insert(registry_policies).values(
                    account_id=account_id, policy_text=text, updated_at=now
                )
            )

    def delete_registry_policy(self, account_id: str) -> str | None:
        mine = registry_policies.c.account_id == account_id
        with self._write() as conn:
            text = conn.execute(sa.select(registry_policies.c.policy_text).where(mine))
            found = text.scalar_one_or_none()
            conn.execute(sa.delete(registry_policies).where(mine))
            return found

    # -- creation templates -------------------------------------------------------------------

    def list_templates(self, account_id: str) -> list[CreationTemplate]:
        stmt = (
            sa.select(creation_templates)
            .where(creation_templates.c.account_id == account_id)
            .order_by(creation_templates.c.prefix)
        )
        with self._read() as conn:
            return [_template(row) for row in conn.execute(stmt)]

    def create_template(self, account_id: str, template: CreationTemplate) -> bool:
        """False when the account already has a template with this prefix."""
        exists = sa.select(creation_templates.c.prefix).where(
            creation_templates.c.account_id == account_id,
            creation_templates.c.prefix == template.prefix,
        )
        with self._write() as conn:
            if conn.execute(exists).first() is not None:
                return False
            conn.execute(
                sa.insert(creation_templates).values(account_id=account_id, **_columns(template))
            )
            return True

    def replace_template(self, account_id: str, template: CreationTemplate) -> bool:
        """False when there is no template with this prefix."""
        columns = _columns(template)
        del columns["created_at"]
        stmt = (
            sa.update(creation_templates)
            .where(
                creation_templates.c.account_id == account_id,
                creation_templates.c.prefix == template.prefix,
            )
            .values(**columns)
        )
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    def delete_template(self, account_id: str, prefix: str) -> bool:
        stmt = sa.delete(creation_templates).where(
            creation_templates.c.account_id == account_id, creation_templates.c.prefix == prefix
        )
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1


def _columns(template: CreationTemplate) -> dict[str, object]:
    document = {
        "appliedFor": list(template.applied_for),
        "description": template.description,
        "tagMutability": template.tag_mutability,
        "mutabilityExclusions": list(template.mutability_exclusions),
        "encryption": template.encryption,
        "resourceTags": template.resource_tags,
        "repositoryPolicy": template.repository_policy,
        "lifecyclePolicy": template.lifecycle_policy,
        "customRoleArn": template.custom_role_arn,
    }
    return {
        "prefix": template.prefix,
        "document": json.dumps(document),
        "created_at": template.created_at,
        "updated_at": template.updated_at,
    }


def _template(row: Row) -> CreationTemplate:
    doc = json.loads(row.document)
    return CreationTemplate(
        prefix=row.prefix,
        applied_for=tuple(AppliedFor(x) for x in doc["appliedFor"]),
        description=doc["description"],
        tag_mutability=doc["tagMutability"],
        mutability_exclusions=tuple(doc["mutabilityExclusions"]),
        encryption=doc["encryption"],
        resource_tags=doc["resourceTags"],
        repository_policy=doc["repositoryPolicy"],
        lifecycle_policy=doc["lifecyclePolicy"],
        custom_role_arn=doc["customRoleArn"],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
