"""Repository creation templates: the ECR operations, and creating repositories through them.

create / update / describe / delete     CreateRepositoryCreationTemplate and friends
create_repository_for(account, name, applied_for)
    the repository Dockyard creates on a user's behalf (create on push; pull-through cache
    and replication call it too), shaped by the matching template (domain/templates.py):
    tag mutability and exclusions, encryption, resource tags, repository policy, and the
    lifecycle policy through `apply_lifecycle_policy` (a hook: lifecycle storage lives in
    its own service, wired by the composition root). Without a matching template,
    CREATE_ON_PUSH creates nothing (None); the other scenarios get ECR's defaults.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from dockyard.domain.errors import (
    AccessDenied,
    LimitExceeded,
    ParameterInvalid,
    RepositoryAlreadyExists,
    TemplateAlreadyExists,
    TemplateNotFound,
)
from dockyard.domain.lifecycle_policy import parse_policy as parse_lifecycle_policy
from dockyard.domain.models import Repository, RepositoryChanges, RepositorySettings
from dockyard.domain.page_tokens import Pager
from dockyard.domain.policies import PolicyKind, parse_policy
from dockyard.domain.templates import AppliedFor, CreationTemplate, matching_template
from dockyard.ports import CreationTemplateStore, RepositoryAdmin
from dockyard.services.access import AccessControl
from dockyard.services.audit import AuditAction, AuditLog, audited, current_actor
from dockyard.services.clock import Clock
from dockyard.services.repository_admin import check_mutability, check_resource_tags

#: ECR documents no quota; this one keeps an account's templates a handful of rows to match.
MAX_TEMPLATES = 100
DEFAULT_PAGE = 100


class _Store(CreationTemplateStore, RepositoryAdmin, Protocol):
    def get_repository(self, account_id: str, name: str) -> Repository | None: ...

    def atomic(self) -> AbstractContextManager[None]: ...


def _not_found(account_id: str, prefix: str) -> TemplateNotFound:
    return TemplateNotFound(
        f"The repository creation template with prefix '{prefix}' in the "
        f"registry with id '{account_id}' can't be found. Verify the "
        "registry ID and prefix and try again."
    )


def check_template(template: CreationTemplate) -> None:
    """What CreateRepository would refuse, refused when the template is saved."""
    check_mutability(template.tag_mutability, template.mutability_exclusions)
    check_resource_tags(template.resource_tags)
    if template.lifecycle_policy:
        parse_lifecycle_policy(template.lifecycle_policy)
    if template.encryption.get("kmsKey") and template.encryption["encryptionType"] == "AES256":
        raise ParameterInvalid(
            "Invalid parameter at 'encryptionConfiguration' failed to satisfy "
            "constraint: 'kmsKey can only be specified for KMS encryption'"
        )
    if template.repository_policy:
        parse_policy(template.repository_policy, PolicyKind.REPOSITORY)
    if template.lifecycle_policy:
        _check_lifecycle_text(template.lifecycle_policy)


def _check_lifecycle_text(text: str) -> None:
    """The shape every lifecycle policy has; the rules are the lifecycle service's to check
    when the policy is applied to a repository."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise ParameterInvalid(
            "Invalid parameter at 'LifecyclePolicyText' failed to satisfy "
            "constraint: 'Lifecycle policy validation failure'"
        )


class TemplateService:
    def __init__(
        self,
        meta: _Store,
        access: AccessControl,
        clock: Clock,
        token_key: bytes,
        audit: AuditLog,
        apply_lifecycle_policy: Callable[[Repository, str], None] | None = None,
    ) -> None:
        self.meta, self.access, self.clock = meta, access, clock
        self.token_key, self.audit = token_key, audit
        #: (repository, lifecycle policy text) -> None, given by the composition root where
        #: lifecycle storage exists. None: a template's lifecycle policy is kept on the
        #: template only (see the module doc).
        self.apply_lifecycle_policy = apply_lifecycle_policy

    # -- the ECR operations -------------------------------------------------------------------

    @audited(AuditAction.PUT_CREATION_TEMPLATE, names_repository=False)
    def create(self, account_id: str, template: CreationTemplate) -> CreationTemplate:
        check_template(template)
        if len(self.meta.list_templates(account_id)) >= MAX_TEMPLATES:
            raise LimitExceeded(
                f"A registry can have at most {MAX_TEMPLATES} repository creation templates"
            )
        now = self.clock.now()
        stored = dataclasses.replace(template, created_at=now, updated_at=now)
        if not self.meta.create_template(account_id, stored):
            raise TemplateAlreadyExists(
                f"The repository creation template with prefix '{template.prefix}' already "
                f"exists in the registry with id '{account_id}'. Specify a unique prefix and "
                "try again."
            )
        return stored

    @audited(AuditAction.PUT_CREATION_TEMPLATE, names_repository=False)
    def update(self, account_id: str, prefix: str, changes: dict[str, object]) -> CreationTemplate:
        current = self._get(account_id, prefix)
        if "tag_mutability" in changes and "mutability_exclusions" not in changes:
            changes = {**changes, "mutability_exclusions": ()}  # filters belong to the mode
        updated = dataclasses.replace(current, **changes, updated_at=self.clock.now())  # type: ignore[arg-type]
        check_template(updated)
        if not self.meta.replace_template(account_id, updated):
            raise _not_found(account_id, prefix)
        return updated

    @audited(AuditAction.DELETE_CREATION_TEMPLATE, names_repository=False)
    def delete(self, account_id: str, prefix: str) -> CreationTemplate:
        found = self._get(account_id, prefix)
        if not self.meta.delete_template(account_id, prefix):
            raise _not_found(account_id, prefix)
        return found

    def describe(
        self,
        account_id: str,
        prefixes: list[str] | None,
        token: str | None,
        max_results: int | None,
    ) -> tuple[list[CreationTemplate], str | None]:
        """Templates by prefix order; only `prefixes` when given (missing ones left out)."""
        found = self.meta.list_templates(account_id)
        if prefixes:
            found = [t for t in found if t.prefix in set(prefixes)]
        pager = Pager(
            self.token_key,
            {
                "op": "DescribeRepositoryCreationTemplates",
                "account": account_id,
                "prefixes": sorted(prefixes or []),
            },
        )
        after = pager.position(token)
        if after:
            found = [t for t in found if t.prefix > after["prefix"]]
        return pager.page(found, max_results or DEFAULT_PAGE, lambda last: {"prefix": last.prefix})

    def _get(self, account_id: str, prefix: str) -> CreationTemplate:
        for template in self.meta.list_templates(account_id):
            if template.prefix == prefix:
                return template
        raise _not_found(account_id, prefix)

    # -- creating repositories on a user's behalf ---------------------------------------------

    def template_for(
        self, account_id: str, name: str, applied_for: AppliedFor
    ) -> CreationTemplate | None:
        return matching_template(self.meta.list_templates(account_id), name, applied_for)

    def create_repository_for(
        self, account_id: str, name: str, applied_for: AppliedFor
    ) -> Repository | None:
        """The repository `name` created for `applied_for` as its template says (or the
        existing one, when a concurrent call created it first); None when CREATE_ON_PUSH has
        no template. The acting principal (audit.acting_as) must be allowed
        ecr:CreateRepository by the account's registry policy when it is another account's."""
        template = self.template_for(account_id, name, applied_for)
        if template is None and applied_for is AppliedFor.CREATE_ON_PUSH:
            return None
        self._check_may_create(account_id, name)
        try:
            with (
                self.meta.atomic(),
                self.audit.recording(
                    AuditAction.CREATE_REPOSITORY,
                    account=account_id,
                    repository=name,
                    details={
                        "applied_for": str(applied_for),
                        "template": template.prefix if template else None,
                    },
                ),
            ):
                return self._create(account_id, name, template or CreationTemplate(name, ()))
        except RepositoryAlreadyExists:
            return self.meta.get_repository(account_id, name)

    def _check_may_create(self, account_id: str, name: str) -> None:
        actor = current_actor()
        if actor is None or self.access.registry_allows(
            account_id, actor.principal, "ecr:CreateRepository", name
        ):
            return
        raise AccessDenied(
            f"User: {actor.principal} is not authorized to perform: "
            f"ecr:CreateRepository on resource: {self.access.arn(account_id, name)}"
            " because no registry policy allows the ecr:CreateRepository action"
        )

    def _create(self, account_id: str, name: str, template: CreationTemplate) -> Repository:
        settings = RepositorySettings(
            tag_mutability=template.tag_mutability,
            mutability_exclusions=template.mutability_exclusions,
            encryption=dict(template.encryption),
            resource_tags=dict(template.resource_tags),
        )
        repo = self.meta.create_configured_repository(account_id, name, settings, self.clock.now())
        if template.repository_policy:
            repo = self.meta.update_repository(
                repo.id, RepositoryChanges(policy=template.repository_policy)
            )
        if template.lifecycle_policy and self.apply_lifecycle_policy is not None:
            self.apply_lifecycle_policy(repo, template.lifecycle_policy)
        return repo
