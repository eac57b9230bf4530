"""Repository lookup and creation, shared by the OCI and ECR adapters."""

from __future__ import annotations

from typing import Protocol

from dockyard.domain.errors import RepositoryAlreadyExists, RepositoryNotFound
from dockyard.domain.models import Repository
from dockyard.domain.names import validate_repository_name
from dockyard.domain.templates import AppliedFor, CreationTemplate
from dockyard.ports import MetadataStore
from dockyard.services.audit import AuditAction, AuditLog
from dockyard.services.clock import Clock
from dockyard.services.placement import bounded
from dockyard.services.replication_origin import replication_origin


def not_found(account_id: str, name: str) -> RepositoryNotFound:
    return RepositoryNotFound(
        f"The repository with name '{name}' does not exist in the registry with id '{account_id}'"
    )


class TemplateCreator(Protocol):
    """ECR's create on push (services/templates.py)."""

    def template_for(
        self, account_id: str, name: str, applied_for: AppliedFor
    ) -> CreationTemplate | None: ...

    def create_repository_for(
        self, account_id: str, name: str, applied_for: AppliedFor
    ) -> Repository | None: ...


class RepositoryService:
    """A push to an unknown repository creates it when a CREATE_ON_PUSH creation template
    matches (ECR's create on push, `templates`), else when the server runs with
    --create-on-push (the local-development shortcut, a plain repository)."""

    def __init__(
        self,
        meta: MetadataStore,
        clock: Clock,
        create_on_push: bool,
        audit: AuditLog | None = None,
        templates: TemplateCreator | None = None,
    ) -> None:
        self.meta, self.clock, self.create_on_push = meta, clock, create_on_push
        self.audit = audit or AuditLog(None, clock)
        self.templates = templates

    def get(self, account_id: str, name: str) -> Repository:
        validate_repository_name(name)
        repo = self.meta.get_repository(account_id, name)
        if repo is None:
            raise not_found(account_id, name)
        return repo

    @bounded
    def find_for_push(self, account_id: str, name: str) -> Repository | None:
        """The repository a push names, None if it does not exist but may be created."""
        validate_repository_name(name)
        repo = self.meta.get_repository(account_id, name)
        if (
            repo is None
            and not self.create_on_push
            and replication_origin() is None
            and self._template(account_id, name) is None
        ):
            raise not_found(account_id, name)
        return repo

    def discard_if_empty(self, repo: Repository) -> None:
        """Undo a create-on-push whose push failed, unless something else landed meanwhile."""
        if not self.meta.has_images(repo.id):
            self.meta.delete_repository(repo.id)

    def for_push(self, account_id: str, name: str) -> Repository:
        """The repository a push goes to, created on the fly when the server allows it."""
        validate_repository_name(name)
        repo = self.meta.get_repository(account_id, name)
        if repo is not None:
            return repo
        if self.templates is not None:
            created = self.templates.create_repository_for(account_id, name, _scenario())
            if created is not None:
                return created
        if not self.create_on_push:
            raise not_found(account_id, name)
        return self._create_or_get(account_id, name)

    def _template(self, account_id: str, name: str) -> CreationTemplate | None:
        if self.templates is None:
            return None
        return self.templates.template_for(account_id, name, AppliedFor.CREATE_ON_PUSH)

    def _create_or_get(self, account_id: str, name: str) -> Repository:
        try:
            with self.audit.recording(
                AuditAction.CREATE_REPOSITORY,
                account=account_id,
                repository=name,
                details={"on_push": True},
            ):
                return self.meta.create_repository(account_id, name, self.clock.now())
        except RepositoryAlreadyExists:
            # Another push created it between our lookup and our insert.
            return self.get(account_id, name)

    def catalog(self, account_id: str, last: str | None, n: int) -> tuple[list[str], bool]:
        names = self.meta.list_repository_names(account_id, last, n + 1)
        return names[:n], len(names) > n


def _scenario() -> AppliedFor:
    """Replication's writes create their repositories through REPLICATION templates (or ECR's
    defaults), any other push through CREATE_ON_PUSH ones (services/replication_origin.py)."""
    return AppliedFor.REPLICATION if replication_origin() is not None else AppliedFor.CREATE_ON_PUSH
