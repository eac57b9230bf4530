"""Replication's ECR operations and its queue: what is copied where, and how far each copy got.

    put_configuration   PutReplicationConfiguration (validated by domain/replication.py)
    describe            DescribeRegistry's replicationConfiguration
    statuses            DescribeImageReplicationStatus
    on_pushed           a push listener (ImageService.on_pushed / on_repushed): inside the push's
                        transaction, one task per destination whose rule matches the repository,
                        so the image and its copies commit together. Replication's own writes
                        (services/replication_origin.py) queue nothing: one hop, no chains.

The copies themselves are services/replication_copy.py's.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, Protocol

from dockyard.domain.models import Image, Repository
from dockyard.domain.replication import (
    Configuration,
    DestinationStatus,
    NewTask,
    destinations_for,
    from_document,
    parse_configuration,
    to_document,
)
from dockyard.ports import ReplicationStore
from dockyard.services.audit import AuditAction, AuditLog, audited
from dockyard.services.clock import Clock
from dockyard.services.image_queries import ImageId, ImageQueries
from dockyard.services.replication_origin import replication_origin


class _Store(ReplicationStore, Protocol):
    pass


class ReplicationService:
    def __init__(
        self,
        store: _Store,
        queries: ImageQueries,
        clock: Clock,
        region: str,
        regions: Collection[str],
        audit: AuditLog,
    ) -> None:
        """`region` is this server's own; `regions` the other servers' the operator declared."""
        self.store, self.queries, self.clock = store, queries, clock
        self.region, self.regions, self.audit = region, frozenset(regions), audit

    @audited(AuditAction.PUT_REPLICATION_CONFIGURATION, names_repository=False)
    def put_configuration(self, account_id: str, document: dict[str, Any]) -> dict[str, Any]:
        configuration = parse_configuration(document, account_id, self.region, self.regions)
        stored = to_document(configuration)
        self.store.put_replication_configuration(
            account_id, json.dumps(stored) if configuration.rules else None, self.clock.now()
        )
        return stored

    def describe(self, account_id: str) -> dict[str, Any]:
        return to_document(self.configuration(account_id))

    def configuration(self, account_id: str) -> Configuration:
        text = self.store.get_replication_configuration(account_id)
        return from_document(json.loads(text)) if text else Configuration()

    def statuses(
        self, account_id: str, name: str, image_id: ImageId
    ) -> tuple[Repository, Image, list[DestinationStatus]]:
        """The image `image_id` names (RepositoryNotFound / ImageNotFound otherwise) and its
        copies; an image pushed before any rule matched has none."""
        repo, (image,) = self.queries.lookup(account_id, name, [image_id])
        return repo, image, self.store.replication_statuses(repo.id, image.digest)

    def on_pushed(self, repo: Repository, image: Image) -> None:
        if replication_origin() is not None:
            return
        text = self.store.get_replication_configuration(repo.account_id)
        if not text:  # the usual case: one indexed read in the push's transaction
            return
        destinations = destinations_for(from_document(json.loads(text)), repo.name)
        tasks = [
            NewTask(repo.account_id, repo.id, repo.name, image.digest, destination)
            for destination in destinations
        ]
        self.store.queue_replications(tasks, self.clock.now())
