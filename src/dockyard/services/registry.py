"""The service layer assembled: one object the adapters receive."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.domain.webhooks import Webhook
from dockyard.ports import BlobStore, MetadataStore, RunMetrics, VulnerabilityScanner
from dockyard.services.access import AccessControl
from dockyard.services.account_settings import AccountSettings
from dockyard.services.archive import ArchiveService
from dockyard.services.audit import AuditLog
from dockyard.services.auth import AuthService, KeyRing
from dockyard.services.blobs import BlobService
from dockyard.services.clock import Clock
from dockyard.services.console import ConsoleViews
from dockyard.services.console_sessions import ConsoleSessions
from dockyard.services.events import EventPublisher
from dockyard.services.gc import GarbageCollector, GcConfig
from dockyard.services.image_commands import ImageCommands
from dockyard.services.image_queries import ImageQueries
from dockyard.services.images import ImageService
from dockyard.services.lifecycle import LifecycleService
from dockyard.services.lifecycle_preview import LifecyclePreviews
from dockyard.services.metadata_calls import MetadataCalls
from dockyard.services.pull_exclusions import PullExclusions
from dockyard.services.pulls import PullRecorder
from dockyard.services.registry_policies import RegistryPolicies
from dockyard.services.replication import ReplicationService
from dockyard.services.repositories import RepositoryService
from dockyard.services.repository_admin import RepositoryAdmin
from dockyard.services.scan_config import ScanConfigService
from dockyard.services.scanning import ScanService
from dockyard.services.storage import StorageService
from dockyard.services.templates import TemplateService
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
    console: ConsoleViews
    console_sessions: ConsoleSessions
    events: EventPublisher
    audit: AuditLog
    archive: ArchiveService
    lifecycle: LifecycleService
    previews: LifecyclePreviews
    gc: GarbageCollector
    storage: StorageService
    access: AccessControl
    registry_policies: RegistryPolicies
    templates: TemplateService
    replication: ReplicationService


@dataclass(frozen=True)
class Policy:
    """Deployment choices that change behaviour, as opposed to where data lives."""

    default_account: str
    create_on_push: bool = False
    accept_any_credentials: bool = False
    region: str = "us-east-1"
    webhooks: tuple[Webhook, ...] = ()
    restore_seconds: float = 0.0  # how long a restore from archive stays ACTIVATING
    replica_regions: tuple[str, ...] = ()  # other servers replication may copy to ([[regions]])


def build_services(
    meta: MetadataStore,
    blobs: BlobStore,
    scanner: VulnerabilityScanner,
    clock: Clock,
    keys: KeyRing,
    policy: Policy,
    audit_sink: Callable[[str], None] | None = None,
    wall_clock: Clock | None = None,
    gc_config: GcConfig | None = None,
    run_metrics: RunMetrics | None = None,
) -> Services:
    """`audit_sink` takes the audit log's lines (None: no audit log); `wall_clock` is the real
    time request signatures are checked against when `clock` is shifted (--test-clock);
    `run_metrics` receives the outcomes of lifecycle runs and garbage collections."""
    # Keys live in the database so that every server process signs and checks alike.
    token_key = meta.secret("registry-token-key", os.urandom(32))
    page_key = meta.secret("page-token-key", os.urandom(32))
    audit = AuditLog(audit_sink, clock)
    events = EventPublisher(meta, policy.webhooks, clock, policy.region)
    repos = RepositoryService(meta, clock, policy.create_on_push, audit)
    exclusions = PullExclusions(meta, clock, page_key)
    pulls = PullRecorder(meta, exclusions)
    images = ImageService(meta, repos, pulls, clock, events, audit)
    queries = ImageQueries(meta, repos, page_key)
    scan_config = ScanConfigService(meta, audit)
    settings = AccountSettings(meta, audit)
    scans = ScanService(meta, blobs, scanner, queries, scan_config, clock, events)
    images.on_pushed.append(scans.on_push)
    calls = MetadataCalls(meta)
    archive = ArchiveService(meta, clock, policy.restore_seconds)
    images.on_repushed.append(archive.on_repushed)
    lifecycle = LifecycleService(meta, repos, archive, clock, events, audit, run_metrics)
    commands = ImageCommands(meta, images, queries, clock, archive)
    access = AccessControl(meta, policy.region)
    templates = TemplateService(meta, access, clock, page_key, audit)
    repos.templates = templates
    templates.apply_lifecycle_policy = lambda repo, text: meta.put_lifecycle_policy(
        repo.id, text, clock.now())
    replication = ReplicationService(meta, queries, clock, policy.region,
                                     policy.replica_regions, audit)
    images.on_pushed.append(replication.on_pushed)
    images.on_repushed.append(replication.on_pushed)  # a tag moved to it, a restore
    auth = AuthService(keys, token_key, clock, policy.accept_any_credentials,
                       policy.default_account, wall_clock or clock)
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
        commands=commands,
        admin=RepositoryAdmin(meta, repos, clock, page_key, audit),
        scans=scans,
        settings=settings,
        scan_config=scan_config,
        auth=auth,
        calls=calls,
        default_account=policy.default_account,
        console=ConsoleViews(meta, queries, commands, scans, blobs),
        console_sessions=ConsoleSessions(meta, auth, clock),
        events=events,
        audit=audit,
        archive=archive,
        lifecycle=lifecycle,
        previews=LifecyclePreviews(meta, lifecycle, repos, clock, page_key),
        gc=GarbageCollector(meta, blobs, clock, gc_config, audit, run_metrics),
        storage=StorageService(meta, meta, clock),
        access=access,
        registry_policies=RegistryPolicies(meta, clock, audit),
        templates=templates,
        replication=replication,
    )
