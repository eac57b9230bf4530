"""Copying queued images to their destinations: at least once, retried, one hop.

    claim due tasks (services share the queue through the database: one worker per task)
      └─ source image still there? ── no ──> FAILED SOURCE_IMAGE_MISSING
         manifests to copy: children before the indexes listing them (domain copy_order)
         destination on this server (its region is ours: another account)
            registry policy of the destination allows the source ecr:ReplicateImage? no -> FAILED
            repository: existing, else created through REPLICATION templates (which needs
            ecr:CreateRepository from that policy; refused -> FAILED)
            blobs linked (the bytes are shared), manifests pushed by digest, then each tag
         destination on another Dockyard (a declared region): through its OCI API
            (ports.ReplicaTarget): blobs it lacks uploaded, manifests PUT, then each tag
      ├─ done                           -> COMPLETE
      ├─ DestinationRefused             -> FAILED, with the code and reason
      └─ unreachable / any other error  -> retried later (backoff), FAILED after the last try

Replication's writes run inside `replicating(source)`: they queue no further replication and
create repositories through REPLICATION templates. A tag the destination refuses (an immutable
repository whose tag points elsewhere) is dropped: the image arrives untagged, as on ECR.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dockyard.domain.digests import parse_digest
from dockyard.domain.errors import AccessDenied, TagImmutable
from dockyard.domain.manifests import Manifest, parse_manifest
from dockyard.domain.models import Image, Repository
from dockyard.domain.replication import (
    Destination,
    DestinationRefused,
    FailureCode,
    ReplicationStatus,
    Task,
    copy_order,
    distinct,
    retry_delay,
)
from dockyard.domain.templates import AppliedFor
from dockyard.ports import BlobIndex, BlobStore, ImageStore, ReplicaTarget, ReplicationStore
from dockyard.services.access import AccessControl
from dockyard.services.audit import AuditAction, AuditLog, acting_as
from dockyard.services.auth import root_principal
from dockyard.services.clock import Clock
from dockyard.services.images import ImageService, Reference
from dockyard.services.replication_origin import replicating
from dockyard.services.templates import TemplateService

log = logging.getLogger("dockyard.replication")

LEASE_SECONDS = 600.0  # longer than copying a batch of large images to a slow destination
BATCH = 10


@dataclass(frozen=True)
class RetryPolicy:
    """How a copy to a destination that cannot be reached is tried again (the `[replication]`
    table of the --config file): about two hours of tries by default."""

    base_seconds: float = 5.0
    max_seconds: float = 300.0
    max_attempts: int = 30


@dataclass(frozen=True)
class Copy:
    """An image to copy: its manifests in copy order and the tags of the image itself."""

    manifests: list[tuple[Image, Manifest]]
    tags: tuple[str, ...]


class _Store(ReplicationStore, ImageStore, BlobIndex, Protocol):
    def get_repository(self, account_id: str, name: str) -> Repository | None: ...


class ReplicationWorker:
    def __init__(
        self,
        store: _Store,
        blobs: BlobStore,
        images: ImageService,
        templates: TemplateService,
        access: AccessControl,
        clock: Clock,
        region: str,
        targets: Callable[[Destination], ReplicaTarget | None],
        retry: RetryPolicy | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        """`targets` gives the remote registry of a destination in another region (None when
        that region is not declared)."""
        self.store, self.blobs, self.images, self.templates = store, blobs, images, templates
        self.access, self.clock, self.region, self.targets = access, clock, region, targets
        self.retry = retry or RetryPolicy()
        self.audit = audit or AuditLog(None, clock)

    def work_once(self, worker: str) -> int:
        """Claim and try a batch of due copies; how many were tried."""
        claimed = self.store.claim_replications(worker, self.clock.now(), LEASE_SECONDS, BATCH)
        for task in claimed:
            self._run(task)
        return len(claimed)

    def _run(self, task: Task) -> None:
        try:
            self._copy(task)
        except DestinationRefused as exc:
            self._end(task, ReplicationStatus.FAILED, str(exc))
        except Exception as exc:  # unreachable, 5xx, a database hiccup: try again later
            log.debug("replication task %s failed", task.id, exc_info=True)
            self._again(task, f"{FailureCode.DESTINATION_UNREACHABLE}: {type(exc).__name__}: {exc}")
        else:
            self._end(task, ReplicationStatus.COMPLETE, None)

    def _again(self, task: Task, error: str) -> None:
        if task.attempts + 1 >= self.retry.max_attempts:
            self._end(task, ReplicationStatus.FAILED, error)
            return
        delay = retry_delay(task.attempts, self.retry.base_seconds, self.retry.max_seconds)
        self.store.retry_replication(task.id, self.clock.now() + delay, error, self.clock.now())

    def _end(self, task: Task, status: ReplicationStatus, failure: str | None) -> None:
        with self.audit.recording(
            AuditAction.REPLICATE_IMAGE,
            account=task.account_id,
            repository=task.repository,
            digest=task.digest,
            details={
                "region": task.destination.region,
                "registry_id": task.destination.registry_id,
                "status": str(status),
                "failure": failure,
            },
        ):
            self.store.end_replication(task.id, status, failure, self.clock.now())
        if failure:
            log.warning(
                "replication of %s@%s to %s/%s failed: %s",
                task.repository,
                task.digest,
                task.destination.region,
                task.destination.registry_id,
                failure,
            )

    # -- one copy --------------------------------------------------------------------------

    def _copy(self, task: Task) -> None:
        copy = self._source(task)
        if task.destination.region == self.region:
            self._copy_here(task, copy)
            return
        target = self.targets(task.destination)
        if target is None:
            raise DestinationRefused(
                FailureCode.REGION_NOT_CONFIGURED,
                f"region {task.destination.region} is not declared",
            )
        self._copy_to(target, task.repository, copy)

    def _source(self, task: Task) -> Copy:
        repo = self.store.get_repository(task.account_id, task.repository)
        root = (
            self.store.get_image(repo.id, task.digest, with_manifest=True)
            if repo is not None and repo.id == task.repo_id
            else None
        )
        if repo is None or root is None:
            raise DestinationRefused(
                FailureCode.SOURCE_IMAGE_MISSING, "the image was deleted before it was copied"
            )
        found = {root.digest: (root, _parsed(root))}
        self._add_children(repo, root.digest, found)
        children = {d: [str(c.digest) for c in m.children] for d, (_, m) in found.items()}
        return Copy([found[d] for d in copy_order(root.digest, children)], root.tags)

    def _add_children(
        self, repo: Repository, digest: str, found: dict[str, tuple[Image, Manifest]]
    ) -> None:
        for child in found[digest][1].children:
            key = str(child.digest)
            if key in found:
                continue
            image = self.store.get_image(repo.id, key, with_manifest=True)
            if image is None:
                raise DestinationRefused(
                    FailureCode.SOURCE_IMAGE_MISSING,
                    f"the index lists {key}, which is not in the repository",
                )
            found[key] = (image, _parsed(image))
            self._add_children(repo, key, found)

    def _copy_here(self, task: Task, copy: Copy) -> None:
        """Into another account of this server: its registry policy decides."""
        account, source = task.destination.registry_id, root_principal(task.account_id)
        if not self.access.registry_allows(account, source, "ecr:ReplicateImage", task.repository):
            raise DestinationRefused(
                FailureCode.DESTINATION_PERMISSION_DENIED,
                f"the registry policy of {account} does not allow {source} ecr:ReplicateImage",
            )
        with acting_as(task.account_id, source), replicating(task.account_id):
            repo = self._destination_repository(account, task.repository)
            source_repo = task.repo_id
            for image, manifest in copy.manifests:
                self._link_blobs(source_repo, repo, manifest)
                self.images.store_push(
                    repo, Reference(None, parse_digest(image.digest)), manifest, _body(image)
                )
            root, manifest = copy.manifests[-1]
            for tag in copy.tags:
                self._tag_here(repo, tag, manifest, _body(root))

    def _destination_repository(self, account: str, name: str) -> Repository:
        existing = self.store.get_repository(account, name)
        if existing is not None:
            return existing
        try:
            created = self.templates.create_repository_for(account, name, AppliedFor.REPLICATION)
        except AccessDenied as exc:
            raise DestinationRefused(
                FailureCode.DESTINATION_REPOSITORY_MISSING, exc.message
            ) from exc
        assert created is not None  # REPLICATION always creates (defaults without a template)
        return created

    def _link_blobs(self, source_repo: int, repo: Repository, manifest: Manifest) -> None:
        sizes = self._blob_sizes(source_repo, manifest)
        for digest in sizes:
            self.store.link_blob(repo.id, digest, sizes[digest], self.clock.now())

    def _blob_sizes(self, source_repo: int, manifest: Manifest) -> dict[str, int]:
        """The stored size of each blob the manifest holds, in manifest order, each once."""
        digests = distinct(str(d.digest) for d in manifest.blob_descriptors)
        sizes = self.store.linked_blob_sizes(source_repo, digests)
        missing = [d for d in digests if d not in sizes]
        if missing:
            raise DestinationRefused(
                FailureCode.SOURCE_IMAGE_MISSING,
                f"blob {missing[0]} is no longer in the source repository",
            )
        return {digest: sizes[digest] for digest in digests}

    def _tag_here(self, repo: Repository, tag: str, manifest: Manifest, body: bytes) -> None:
        try:
            self.images.store_push(repo, Reference(tag, None), manifest, body)
        except TagImmutable:
            log.info(
                "replication: tag %s of %s dropped (immutable at the destination)", tag, repo.name
            )

    def _copy_to(self, target: ReplicaTarget, name: str, copy: Copy) -> None:
        """Into another Dockyard: blobs it lacks, manifests children first, then the tags."""
        for image, manifest in copy.manifests:
            self._upload_blobs(target, name, image, manifest)
            target.put_manifest(name, image.digest, image.media_type, _body(image))
        root, _ = copy.manifests[-1]
        for tag in copy.tags:
            try:
                target.put_manifest(name, tag, root.media_type, _body(root))
            except DestinationRefused as exc:
                if exc.code is not FailureCode.DESTINATION_TAG_IMMUTABLE:
                    raise
                log.info(
                    "replication: tag %s of %s dropped (immutable at the destination)", tag, name
                )

    def _upload_blobs(
        self, target: ReplicaTarget, name: str, image: Image, manifest: Manifest
    ) -> None:
        sizes = self._blob_sizes(image.repo_id, manifest)
        for digest in sizes:
            if not target.has_blob(name, digest):
                target.put_blob(name, digest, sizes[digest], self.blobs.read(digest))


def _parsed(image: Image) -> Manifest:
    return parse_manifest(_body(image), image.media_type)


def _body(image: Image) -> bytes:
    assert image.manifest is not None  # loaded with_manifest
    return image.manifest
