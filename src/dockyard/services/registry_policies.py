"""PutRegistryPolicy, GetRegistryPolicy, DeleteRegistryPolicy: one policy per registry.

The policy is enforced by services/access.py on every request (ECR's V2 scope, its default:
"enforces the registry policy in all ECR requests"), and decides the registry-level actions
(ecr:CreateRepository, ecr:ReplicateImage, ecr:BatchImportUpstreamImage) through
AccessControl.registry_allows. Under the V1 scope (PutAccountSetting REGISTRY_POLICY_SCOPE V1)
a policy may name only those three actions and is consulted only for them.
"""

from __future__ import annotations

from typing import Protocol

from dockyard.domain.errors import RegistryPolicyNotFound
from dockyard.domain.policies import PolicyKind, check_v1_registry_policy, parse_policy
from dockyard.ports import AccountStore, RegistryPolicyStore
from dockyard.services.audit import AuditAction, AuditLog, audited
from dockyard.services.clock import Clock


def _not_found(account_id: str) -> RegistryPolicyNotFound:
    return RegistryPolicyNotFound(
        f"Registry policy does not exist in the registry with id '{account_id}'"
    )


SCOPE_SETTING = "REGISTRY_POLICY_SCOPE"


class _Store(RegistryPolicyStore, AccountStore, Protocol):
    pass


def scope_is_v1(meta: AccountStore, account_id: str) -> bool:
    return meta.get_account_setting(account_id, SCOPE_SETTING) == "V1"


class RegistryPolicies:
    def __init__(self, meta: _Store, clock: Clock, audit: AuditLog) -> None:
        self.meta, self.clock, self.audit = meta, clock, audit

    @audited(AuditAction.PUT_REGISTRY_POLICY, names_repository=False)
    def put(self, account_id: str, text: str) -> str:
        policy = parse_policy(text, PolicyKind.REGISTRY)
        if scope_is_v1(self.meta, account_id):
            check_v1_registry_policy(policy)
        self.meta.put_registry_policy(account_id, text, self.clock.now())
        return text

    def get(self, account_id: str) -> str:
        text = self.meta.get_registry_policy(account_id)
        if text is None:
            raise _not_found(account_id)
        return text

    @audited(AuditAction.DELETE_REGISTRY_POLICY, names_repository=False)
    def delete(self, account_id: str) -> str:
        text = self.meta.delete_registry_policy(account_id)
        if text is None:
            raise _not_found(account_id)
        return text
