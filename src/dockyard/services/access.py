"""Who may do what to a repository: resource policies applied to every request of either protocol.

The adapters map a request to (caller, target registry, repository, ECR action) with
domain/actions.py and ask `authorize` once, before the use case runs. The rule:

    documents = the target registry's policy + the repository's policy (when both exist)
    explicit Deny in either                    -> refused, even within the account
    caller's own account                       -> allowed (every key keeps full rights unless
                                                  a policy denies its principal: read-only keys
                                                  are a Deny of the push actions)
    another account, an applicable Allow       -> allowed
    another account, nothing said              -> refused

Under the V1 registry policy scope (account setting REGISTRY_POLICY_SCOPE) the registry policy
takes part only in `registry_allows` (ecr:ReplicateImage, ecr:CreateRepository,
ecr:BatchImportUpstreamImage), not in `authorize`; the setting is read only when a registry
policy exists, so a registry without one pays nothing for it.

The account root may always read and repair its own policies (Set/Get/Delete of repository and
registry policies), as S3 lets a bucket owner replace a policy that locks everyone out: a Deny
of `ecr:*` for `*` must not make a registry unmanageable.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

from dockyard.domain.errors import AccessDenied, NameInvalid
from dockyard.domain.models import Repository
from dockyard.domain.names import validate_repository_name
from dockyard.domain.policies import (
    Decision,
    Policy,
    PolicyKind,
    allowed,
    parse_policy,
    principal_account,
)
from dockyard.ports import AccountStore, RegistryPolicyStore
from dockyard.services.auth import Caller, root_principal
from dockyard.services.placement import bounded
from dockyard.services.registry_policies import scope_is_v1

POLICY_REPAIR = frozenset(
    {
        "ecr:setrepositorypolicy",
        "ecr:getrepositorypolicy",
        "ecr:deleterepositorypolicy",
        "ecr:putregistrypolicy",
        "ecr:getregistrypolicy",
        "ecr:deleteregistrypolicy",
    }
)


class _Store(RegistryPolicyStore, AccountStore, Protocol):
    def get_repository(self, account_id: str, name: str) -> Repository | None: ...


class AccessControl:
    def __init__(self, meta: _Store, region: str) -> None:
        self.meta, self.region = meta, region

    @bounded
    def authorize(self, caller: Caller, account: str, repository: str | None, action: str) -> None:
        """Return when `caller` may do `action` to `account`'s `repository` (None: the
        registry as a whole); raise AccessDenied with AWS's wording otherwise."""
        if caller.principal == root_principal(account) and action.lower() in POLICY_REPAIR:
            return
        resource = self.arn(account, repository)
        decision = allowed(self._policies(account, repository), caller.principal, action, resource)
        if decision is Decision.DENY:
            raise _denied(
                caller, action, resource, "with an explicit deny in a resource-based policy"
            )
        if decision is Decision.ALLOW or caller.account_id == account:
            return
        raise _denied(
            caller, action, resource, f"because no resource-based policy allows the {action} action"
        )

    def registry_allows(
        self, account: str, principal: str, action: str, repository: str | None = None
    ) -> bool:
        """Whether `account`'s registry policy lets `principal` do a registry-level action
        (ecr:CreateRepository, ecr:ReplicateImage, ecr:BatchImportUpstreamImage) on
        `repository` (None: any). Within the account: yes unless denied; across: an Allow."""
        text = self.meta.get_registry_policy(account)
        policies = [_parsed(text, PolicyKind.REGISTRY)] if text else []
        decision = allowed(policies, principal, action, self.arn(account, repository))
        if decision is Decision.DENY:
            return False
        return decision is Decision.ALLOW or principal_account(principal) == account

    def arn(self, account: str, repository: str | None) -> str:
        return f"arn:aws:ecr:{self.region}:{account}:repository/{repository or '*'}"

    def _policies(self, account: str, repository: str | None) -> list[Policy]:
        found = []
        # One read for both (it runs on every request). A malformed name names no repository
        # (the handler answers NAME_INVALID); it is not looked up, as a database may refuse its
        # characters (NUL on PostgreSQL).
        name = repository if repository and _is_repository_name(repository) else None
        registry_text, repository_text = self.meta.get_access_policies(account, name)
        if registry_text and not scope_is_v1(self.meta, account):
            found.append(_parsed(registry_text, PolicyKind.REGISTRY))
        if repository_text:
            found.append(_parsed(repository_text, PolicyKind.REPOSITORY))
        return found


def _is_repository_name(name: str) -> bool:
    try:
        validate_repository_name(name)
    except NameInvalid:
        return False
    return True


@lru_cache(maxsize=512)
def _parsed(text: str, kind: PolicyKind) -> Policy:
    """Stored texts were validated when set; parsing each once keeps a pull to a dict lookup."""
    return parse_policy(text, kind)


def _denied(caller: Caller, action: str, resource: str, why: str) -> AccessDenied:
    return AccessDenied(
        f"User: {caller.principal} is not authorized to perform: {action} on "
        f"resource: {resource} {why}"
    )
