"""Repository creation templates: what they hold and which one applies. Pure: stdlib only.

A template is found by the repository name it would create (reference ecr-wave2.md §5.2):

    prefix "prod"      covers "prod/app", "prod/team/app" (an implied trailing "/"), not "production"
    prefix "prod/team" beats "prod" for "prod/team/app" (the longest prefix wins)
    prefix "ROOT"      covers every name no other template covers

and only for the scenario its `applied_for` names (CREATE_ON_PUSH, PULL_THROUGH_CACHE, REPLICATION).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

ROOT = "ROOT"


class AppliedFor(StrEnum):
    CREATE_ON_PUSH = "CREATE_ON_PUSH"
    PULL_THROUGH_CACHE = "PULL_THROUGH_CACHE"
    REPLICATION = "REPLICATION"


@dataclass(frozen=True)
class CreationTemplate:
    prefix: str
    applied_for: tuple[AppliedFor, ...]
    description: str = ""
    tag_mutability: str = "MUTABLE"
    mutability_exclusions: tuple[str, ...] = ()
    encryption: dict[str, str] = field(default_factory=lambda: {"encryptionType": "AES256"})
    resource_tags: dict[str, str] = field(default_factory=dict)
    repository_policy: str = ""  # "" is none
    lifecycle_policy: str = ""
    custom_role_arn: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0


def covers(prefix: str, name: str) -> bool:
    """Whether a template's prefix covers a repository name (ROOT covers every name)."""
    return prefix == ROOT or name == prefix or name.startswith(prefix.rstrip("/") + "/")


def matching_template(
    templates: Iterable[CreationTemplate], name: str, scenario: AppliedFor
) -> CreationTemplate | None:
    """The template that shapes a repository `name` created for `scenario`, if any.

    The longest covering prefix wins among the templates that apply to the scenario; ROOT ranks
    below every named prefix.
    """
    found = [t for t in templates if scenario in t.applied_for and covers(t.prefix, name)]
    if not found:
        return None
    return max(found, key=lambda t: -1 if t.prefix == ROOT else len(t.prefix))
