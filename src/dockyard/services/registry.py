"""The service layer assembled: one object the adapters receive."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dockyard.ports import BlobStore, MetadataStore, VulnerabilityScanner
from dockyard.services.account_settings import AccountSettings
from dockyard.services.auth import AuthService, KeyRing
from dockyard.services.blobs import BlobService
from dockyard.services.clock import Clock
from dockyard.services.gc import GarbageCollector, GcConfig
from dockyard.services.image_commands import ImageCommands
from dockyard.services.image_queries import ImageQueries
from dockyard.services.images import ImageService
from dockyard.services.metadata_calls import MetadataCalls
from dockyard.services.pull_exclusions import PullExclusions
from dockyard.services.pulls import PullRecorder
from dockyard.services.repositories import RepositoryService
from dockyard.services.repository_admin import RepositoryAdmin
from dockyard.services.scan_config import ScanConfigService
from dockyard.services.scanning import ScanService
from dockyard.services.storage import StorageService
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
    exclusions: PullExclusions
    queries: ImageQueries
    commands: ImageCommands
    admin: RepositoryAdmin
    scans: ScanService
    settings: AccountSettings
    scan_config: ScanConfigService
    auth: AuthService
    calls: MetadataCalls
    default_account: str
    gc: GarbageCollector
    storage: StorageService


@dataclass(frozen=True)
class Policy:
    """Deployment choices that change behaviour, as opposed to where data lives."""

    default_account: str
    create_on_push: bool = False
    accept_any_credentials: bool = False


def build_services(
    meta: MetadataStore,
    blobs: BlobStore,
    scanner: VulnerabilityScanner,
    clock: Clock,
    keys: KeyRing,
    policy: Policy,
    gc_config: GcConfig | None = None,
) -> Services:
    # Keys live in the database so that every server process signs and checks alike.
    token_key = meta.secret("registry-token-key", os.urandom(32))
    page_key = meta.secret("page-token-key", os.urandom(32))
    repos = RepositoryService(meta, clock, policy.create_on_push)
    exclusions = PullExclusions(meta, clock, page_key)
    pulls = PullRecorder(meta, exclusions)
    images = ImageService(meta, repos, pulls, clock)
    queries = ImageQueries(meta, repos, page_key)
    scan_config = ScanConfigService(meta)
    settings = AccountSettings(meta)
    scans = ScanService(meta, blobs, scanner, queries, scan_config, clock)
    images.on_pushed.append(scans.on_push)
    calls = MetadataCalls(meta)
    return Services(
        meta=meta,
        blob_store=blobs,
        clock=clock,
        repositories=repos,
        images=images,
        uploads=UploadService(meta, blobs, repos, clock, settings, calls),
        blobs=BlobService(meta, blobs, repos, clock),
        pulls=pulls,
        exclusions=exclusions,
        queries=queries,
        commands=ImageCommands(meta, images, queries, clock),
        admin=RepositoryAdmin(meta, repos, clock, page_key),
        scans=scans,
        settings=settings,
        scan_config=scan_config,
        auth=AuthService(keys, token_key, clock, policy.accept_any_credentials,
                         policy.default_account),
        calls=calls,
        default_account=policy.default_account,
        gc=GarbageCollector(meta, blobs, clock, gc_config),
        storage=StorageService(meta),
    )
