"""Repository administration for the ECR control plane: create, describe, delete, settings."""

from __future__ import annotations

import unicodedata

from dockyard.domain.errors import (
    ParameterInvalid,
    PolicyNotFound,
    RepositoryNotEmpty,
    ResourceTagInvalid,
    TooManyTags,
)
from dockyard.domain.models import Repository, RepositoryChanges, RepositorySettings, Unchanged
from dockyard.domain.names import validate_repository_name
from dockyard.domain.page_tokens import Pager
from dockyard.domain.policies import PolicyKind, locks_out, parse_policy
from dockyard.ports import MetadataStore
from dockyard.services.audit import AuditAction, AuditLog, audited
from dockyard.services.clock import Clock
from dockyard.services.repositories import RepositoryService, not_found

MAX_RESOURCE_TAGS = 50
# AWS's rules for resource tags: lengths, and the characters of ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$.
MAX_TAG_KEY, MAX_TAG_VALUE = 128, 256
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
DEFAULT_PAGE = 100
MUTABILITY_WITH_FILTERS = {"IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"}


def check_mutability(mode: str, filters: tuple[str, ...]) -> None:
    """`*_WITH_EXCLUSION` needs filters; plain modes must not carry any."""
    if mode in MUTABILITY_WITH_FILTERS and not filters:
        raise ParameterInvalid(
            f"Invalid parameter at 'imageTagMutabilityExclusionFilters' failed "
            f"to satisfy constraint: 'Member must not be null for {mode}'"
        )
    if mode not in MUTABILITY_WITH_FILTERS and filters:
        raise ParameterInvalid(
            f"Invalid parameter at 'imageTagMutabilityExclusionFilters' failed "
            f"to satisfy constraint: 'Member must be null for {mode}'"
        )


def check_policy(text: str) -> None:
    """The repository policy grammar (domain/policies.py), with ECR's message."""
    parse_policy(text, PolicyKind.REPOSITORY)


class RepositoryAdmin:
    def __init__(
        self,
        meta: MetadataStore,
        repos: RepositoryService,
        clock: Clock,
        token_key: bytes,
        audit: AuditLog | None = None,
    ) -> None:
        self.meta, self.repos, self.clock, self.token_key = meta, repos, clock, token_key
        self.audit = audit or AuditLog(None, clock)

    @audited(AuditAction.CREATE_REPOSITORY)
    def create(self, account_id: str, name: str, settings: RepositorySettings) -> Repository:
        validate_repository_name(name)
        check_mutability(settings.tag_mutability, settings.mutability_exclusions)
        check_resource_tags(settings.resource_tags)
        return self.meta.create_configured_repository(account_id, name, settings, self.clock.now())

    def describe(
        self, account_id: str, names: list[str] | None, token: str | None, max_results: int | None
    ) -> tuple[list[Repository], str | None]:
        """A page of repositories by name; with `names`, exactly those (all must exist)."""
        if names:
            found = self.meta.list_repositories(account_id, names, None, len(names))
            missing = sorted(set(names) - {repo.name for repo in found})
            if missing:
                raise not_found(account_id, missing[0])
            return found, None
        pager = Pager(self.token_key, {"op": "DescribeRepositories", "account": account_id})
        after = pager.position(token)
        limit = max_results or DEFAULT_PAGE
        found = self.meta.list_repositories(
            account_id, None, after["name"] if after else None, limit + 1
        )
        return pager.page(found, limit, lambda last: {"name": last.name})

    @audited(AuditAction.DELETE_REPOSITORY)
    def delete(self, account_id: str, name: str, force: bool) -> Repository:
        repo = self.repos.get(account_id, name)
        if not force and self.meta.has_images(repo.id):
            raise RepositoryNotEmpty(
                f"The repository with name '{name}' in registry with id '{account_id}' "
                "cannot be deleted because it still contains images"
            )
        self.meta.delete_repository(repo.id)
        return repo

    @audited(AuditAction.UPDATE_REPOSITORY)
    def update(self, account_id: str, name: str, changes: RepositoryChanges) -> Repository:
        repo = self.repos.get(account_id, name)
        if not isinstance(changes.tag_mutability, Unchanged):
            exclusions = changes.mutability_exclusions
            check_mutability(
                changes.tag_mutability, () if isinstance(exclusions, Unchanged) else exclusions
            )
        return self.meta.update_repository(repo.id, changes)

    # -- policies -----------------------------------------------------------------------------

    @audited(AuditAction.SET_REPOSITORY_POLICY)
    def set_policy(
        self,
        account_id: str,
        name: str,
        text: str,
        *,
        force: bool = True,
        caller: str | None = None,
    ) -> Repository:
        """Without `force`, a policy that would lock `caller` out of setting the next one is
        refused (SetRepositoryPolicy's `force`; the console does not ask for it)."""
        self.repos.get(account_id, name)  # a missing repository is reported before the text
        check_policy(text)
        resource = f"arn:aws:ecr:*:{account_id}:repository/{name}"
        if (
            not force
            and caller
            and locks_out(parse_policy(text, PolicyKind.REPOSITORY), caller, account_id, resource)
        ):
            raise ParameterInvalid(
                "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'The policy "
                f"would prevent {caller} from setting another repository policy; set force to "
                "true to set it anyway'"
            )
        return self.update(account_id, name, RepositoryChanges(policy=text))

    def get_policy(self, account_id: str, name: str) -> Repository:
        repo = self.repos.get(account_id, name)
        if repo.policy is None:
            raise PolicyNotFound(
                f"Repository policy does not exist for the repository with name '{name}' "
                f"in the registry with id '{account_id}'"
            )
        return repo

    @audited(AuditAction.DELETE_REPOSITORY_POLICY)
    def delete_policy(self, account_id: str, name: str) -> Repository:
        repo = self.get_policy(account_id, name)
        self.meta.update_repository(repo.id, RepositoryChanges(policy=None))
        return repo

    # -- resource tags ------------------------------------------------------------------------

    def tags(self, account_id: str, name: str) -> dict[str, str]:
        return self.meta.resource_tags(self.repos.get(account_id, name).id)

    @audited(AuditAction.TAG_RESOURCE)
    def tag(self, account_id: str, name: str, tags: dict[str, str]) -> None:
        repo = self.repos.get(account_id, name)
        check_resource_tags({**self.meta.resource_tags(repo.id), **tags})
        self.meta.set_resource_tags(repo.id, tags)

    @audited(AuditAction.UNTAG_RESOURCE)
    def untag(self, account_id: str, name: str, keys: list[str]) -> None:
        repo = self.repos.get(account_id, name)
        for key in keys:
            _check_tag_text(key, "key", 1, MAX_TAG_KEY)
        self.meta.remove_resource_tags(repo.id, keys)


def check_resource_tags(tags: dict[str, str]) -> None:
    if len(tags) > MAX_RESOURCE_TAGS:
        raise TooManyTags(f"A resource can have at most {MAX_RESOURCE_TAGS} tags")
    for key, value in tags.items():
        _check_tag_text(key, "key", 1, MAX_TAG_KEY)
        _check_tag_text(value, "value", 0, MAX_TAG_VALUE)
    reserved = [key for key in tags if key.lower().startswith("aws:")]
    if reserved:
        raise ResourceTagInvalid(f"Tag keys starting with 'aws:' are reserved: {reserved[0]}")


def _check_tag_text(text: str, what: str, shortest: int, longest: int) -> None:
    """Refuse what AWS refuses; a control character would also break PostgreSQL (NUL)."""
    if not shortest <= len(text) <= longest:
        raise ResourceTagInvalid(
            f"Tag {what}s must be {shortest} to {longest} characters long: {text[:longest]!r}"
        )
    if not all(ch in _TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LZN" for ch in text):
        raise ResourceTagInvalid(
            f"Tag {what}s may contain only letters, numbers, spaces and _ . : / = + - @: {text!r}"
        )
