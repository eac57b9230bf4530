"""PutRegistryPolicy, GetRegistryPolicy, DeleteRegistryPolicy: one policy per registry.

The policy is enforced by services/access.py on every request (ECR's V2 scope, its default:
"enforces the registry policy in all ECR requests"), and decides the registry-level actions
(ecr:CreateRepository, ecr:ReplicateImage, ecr:BatchImportUpstreamImage) through
AccessControl.registry_allows. The V1 scope (PutAccountSetting REGISTRY_POLICY_SCOPE) is not
modelled: Dockyard always behaves as V2.
"""

from __future__ import annotations

from dockyard.domain.errors import RegistryPolicyNotFound
from dockyard.domain.policies import PolicyKind, parse_policy
from dockyard.ports import RegistryPolicyStore
from dockyard.services.audit import AuditAction, AuditLog, audited
from dockyard.services.clock import Clock


def _not_found(account_id: str) -> RegistryPolicyNotFound:
    return RegistryPolicyNotFound(
        f"Registry policy does not exist in the registry with id '{account_id}'")


class RegistryPolicies:
    def __init__(self, meta: RegistryPolicyStore, clock: Clock, audit: AuditLog) -> None:
        self.meta, self.clock, self.audit = meta, clock, audit

    @audited(AuditAction.PUT_REGISTRY_POLICY, names_repository=False)
    def put(self, account_id: str, text: str) -> str:
        parse_policy(text, PolicyKind.REGISTRY)
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
