"""The service layer assembled: one object the adapters receive."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.ports import BlobStore, MetadataStore
from dockyard.services.blobs import BlobService
from dockyard.services.clock import Clock
from dockyard.services.images import ImageService
from dockyard.services.pulls import PullRecorder
from dockyard.services.repositories import RepositoryService
from dockyard.services.uploads import UploadService


@dataclass
class Services:
    meta: MetadataStore
    blob_store: BlobStore
    clock: Clock
    repositories: RepositoryService
    images: ImageService
    uploads: UploadService
    blobs: BlobService
    pulls: PullRecorder
    default_account: str


def build_services(
    meta: MetadataStore, blobs: BlobStore, clock: Clock, default_account: str, create_on_push: bool
) -> Services:
    repos = RepositoryService(meta, clock, create_on_push)
    pulls = PullRecorder(meta)
    return Services(
        meta=meta,
        blob_store=blobs,
        clock=clock,
        repositories=repos,
        images=ImageService(meta, repos, pulls, clock),
        uploads=UploadService(meta, blobs, repos, clock),
        blobs=BlobService(meta, blobs, repos),
        pulls=pulls,
        default_account=default_account,
    )
