"""Resource policies (repository and registry), parsed and evaluated. Pure: stdlib only.

    text --parse_policy--> Policy(statements) --allowed(policies, principal, action, resource)-->
        Decision.ALLOW | Decision.DENY | Decision.NOT_APPLICABLE

The grammar is the IAM subset ECR resource policies use (reference ecr-wave2.md §4.3):

- `Version` "2012-10-17" or "2008-10-17" (optional), `Id` (optional), `Statement`: one object or
  a list (empty: a policy that says nothing);
- each statement: `Sid` (optional string), `Effect` Allow|Deny, `Principal` (`"*"`,
  `{"AWS": <one or a list>}` of `"*"`, a 12-digit account id, `arn:aws:iam::<account>:root`,
  user and role ARNs; `{"Service": ...}` is accepted and matches no access key), `Action` (a
  string or a list of case-insensitive globs such as `ecr:*`, `ecr:Batch*`, `*`);
- `Resource` only in registry policies (ARN globs such as `arn:aws:ecr:*:111111111111:repository/*`):
  a repository policy is implicitly about its repository, and ECR refuses one with a `Resource`;
- `NotPrincipal`, `NotAction`, `NotResource` and `Condition` are refused, not ignored: ignoring a
  condition would make an Allow broader than its author wrote.

Every refusal is ECR's own `Invalid parameter at 'PolicyText' failed to satisfy constraint:
'Invalid repository policy provided'` (or `registry`); the reason goes in the error's detail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from dockyard.domain.errors import ParameterInvalid

VERSIONS = frozenset({"2012-10-17", "2008-10-17"})
MAX_POLICY_TEXT = 10240
_TOP_KEYS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset({"Sid", "Effect", "Principal", "Action", "Resource"})
_REFUSED_KEYS = ("NotPrincipal", "NotAction", "NotResource", "Condition")
_ACCOUNT = re.compile(r"[0-9]{12}")
_IAM_ARN = re.compile(r"arn:aws:iam::(?P<account>[0-9]{12}):(?P<kind>root|user/.+|role/.+)")
_STS_ARN = re.compile(r"arn:aws:sts::(?P<account>[0-9]{12}):assumed-role/(?P<role>[^/]+)/.+")
_ACTION = re.compile(r"\*|ecr:[A-Za-z*?]+", re.IGNORECASE)


class PolicyKind(StrEnum):
    REPOSITORY = "repository"
    REGISTRY = "registry"


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class Decision(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"
    NOT_APPLICABLE = "NotApplicable"


ANYONE = "*"


@dataclass(frozen=True)
class Statement:
    effect: Effect
    principals: frozenset[str]  # "*", account ids, exact ARNs ("service:<name>" never matches)
    actions: tuple[str, ...]  # lower-cased globs
    resources: tuple[str, ...] | None  # ARN globs; None: the policy's own repository

    def applies(self, principal: str, action: str, resource: str) -> bool:
        return (
            _principal_matches(self.principals, principal)
            and any(_glob(pattern, True).fullmatch(action.lower()) for pattern in self.actions)
            and (
                self.resources is None
                or any(_glob(pattern, False).fullmatch(resource) for pattern in self.resources)
            )
        )


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]


def allowed(policies: Iterable[Policy], principal: str, action: str, resource: str) -> Decision:
    """Explicit Deny anywhere wins, then any applicable Allow; else NOT_APPLICABLE (the caller
    decides what silence means: full rights in one's own account, a refusal across accounts)."""
    decision = Decision.NOT_APPLICABLE
    for policy in policies:
        for statement in policy.statements:
            if not statement.applies(principal, action, resource):
                continue
            if statement.effect is Effect.DENY:
                return Decision.DENY
            decision = Decision.ALLOW
    return decision


def principal_account(principal: str) -> str | None:
    """The account of an IAM or STS principal ARN, None when it names none."""
    found = _IAM_ARN.fullmatch(principal) or _STS_ARN.fullmatch(principal)
    return found["account"] if found else None


# -- parsing ------------------------------------------------------------------------------------


def parse_policy(text: str, kind: PolicyKind = PolicyKind.REPOSITORY) -> Policy:
    """The policy a `policyText` holds, or ParameterInvalid with ECR's message."""
    try:
        document = json.loads(text)
    except ValueError:
        raise _invalid(kind, "the policy is not JSON") from None
    except RecursionError:  # nested deeper than the parser's stack
        raise _invalid(kind, "the policy nests JSON too deeply") from None
    if not isinstance(document, dict):
        raise _invalid(kind, "the policy must be a JSON object")
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise _invalid(kind, f"unknown policy element {unknown[0]!r}")
    if "Version" in document and document["Version"] not in VERSIONS:
        raise _invalid(kind, f"Version must be one of {sorted(VERSIONS)}")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):  # an empty list is a policy that says nothing
        raise _invalid(kind, "Statement must be an object or a list of objects")
    return Policy(tuple(_statement(item, kind) for item in statements))


def _statement(item: object, kind: PolicyKind) -> Statement:
    if not isinstance(item, dict):
        raise _invalid(kind, "each statement must be a JSON object")
    for key in _REFUSED_KEYS:
        if key in item:
            raise _invalid(kind, f"{key} is not supported")
    unknown = sorted(set(item) - _STATEMENT_KEYS)
    if unknown:
        raise _invalid(kind, f"unknown statement element {unknown[0]!r}")
    if "Sid" in item and not isinstance(item["Sid"], str):
        raise _invalid(kind, "Sid must be a string")
    if item.get("Effect") not in (Effect.ALLOW, Effect.DENY):
        raise _invalid(kind, "Effect must be Allow or Deny")
    return Statement(
        Effect(item["Effect"]),
        _principals(item.get("Principal"), kind),
        _actions(item.get("Action"), kind),
        _resources(item, kind),
    )


def _principals(value: object, kind: PolicyKind) -> frozenset[str]:
    if value == ANYONE:
        return frozenset({ANYONE})
    if not isinstance(value, dict) or not value or set(value) - {"AWS", "Service"}:
        raise _invalid(kind, 'Principal must be "*" or an object of "AWS" (or "Service") values')
    found = {f"service:{name}" for name in _strings(value.get("Service", []), kind, "Service")}
    for entry in _strings(value.get("AWS", []), kind, "Principal"):
        found.add(_aws_principal(entry, kind))
    return frozenset(found)


def _aws_principal(entry: str, kind: PolicyKind) -> str:
    if entry == ANYONE or _ACCOUNT.fullmatch(entry):
        return entry
    arn = _IAM_ARN.fullmatch(entry)
    if arn is None:
        raise _invalid(kind, f"Principal {entry!r} is not an account id or an IAM ARN")
    return arn["account"] if arn["kind"] == "root" else entry


def _actions(value: object, kind: PolicyKind) -> tuple[str, ...]:
    actions = _strings(value, kind, "Action")
    if not actions:
        raise _invalid(kind, "Action is required")
    for action in actions:
        if not _ACTION.fullmatch(action):
            raise _invalid(kind, f"Action {action!r} is not an ecr: action")
    return tuple(action.lower() for action in actions)


def _resources(item: dict[str, Any], kind: PolicyKind) -> tuple[str, ...] | None:
    if kind is PolicyKind.REPOSITORY:
        if "Resource" in item:
            raise _invalid(kind, "a repository policy may not name a Resource")
        return None
    resources = _strings(item.get("Resource"), kind, "Resource")
    if not resources:
        raise _invalid(kind, "Resource is required in a registry policy")
    return tuple(resources)


def _strings(value: object, kind: PolicyKind, element: str) -> list[str]:
    """One string or a list of strings (possibly empty); anything else is refused."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) and x for x in items):
        raise _invalid(kind, f"{element} must be a string or a list of strings")
    return list(items)


def _invalid(kind: PolicyKind, reason: str) -> ParameterInvalid:
    return ParameterInvalid(
        "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
        f"'Invalid {kind} policy provided'",
        reason=reason,
    )


# -- matching -----------------------------------------------------------------------------------


def _principal_matches(allowed_principals: frozenset[str], principal: str) -> bool:
    if ANYONE in allowed_principals or principal in allowed_principals:
        return True
    account = principal_account(principal)
    if account is not None and account in allowed_principals:
        return True
    role = _STS_ARN.fullmatch(principal)  # a session of a role is that role
    return role is not None and f"arn:aws:iam::{role['account']}:role/{role['role']}" in (
        allowed_principals
    )


@lru_cache(maxsize=1024)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's globs: `*` any run of characters, `?` one character, nothing else special."""
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.IGNORECASE if ignore_case else 0)


def locks_out(policy: Policy, principal: str, account: str, resource: str) -> bool:
    """Whether a repository policy would stop `principal` setting another one (ECR makes such a
    policy need `force`): it denies them ecr:SetRepositoryPolicy, or they are of another
    account and it does not allow them."""
    decision = allowed([policy], principal, "ecr:SetRepositoryPolicy", resource)
    if decision is Decision.DENY:
        return True
    return decision is not Decision.ALLOW and principal_account(principal) != account


#: The actions a registry policy may name, and is enforced for, under the V1 registry policy
#: scope (PutAccountSetting REGISTRY_POLICY_SCOPE V1); V2, the default, covers every action.
V1_REGISTRY_ACTIONS = frozenset(
    {"ecr:replicateimage", "ecr:batchimportupstreamimage", "ecr:createrepository"}
)


def check_v1_registry_policy(policy: Policy) -> None:
    """Under the V1 scope a registry policy names only the three registry-level actions, each
    spelled out (a glob such as `ecr:*` would promise push and pull rights V1 never grants)."""
    for statement in policy.statements:
        for action in statement.actions:
            if action not in V1_REGISTRY_ACTIONS:
                raise ParameterInvalid(
                    "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                    "'Invalid registry policy provided'",
                    reason=f"the V1 registry policy scope allows only "
                    f"{sorted(V1_REGISTRY_ACTIONS)}, not {action}",
                )
