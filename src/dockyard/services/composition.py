"""The service layer assembled: one object the adapters receive."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.domain.webhooks import Webhook
from dockyard.ports import (
    BlobStore,
    MetadataStore,
    RunMetrics,
    UpstreamConnector,
    VulnerabilityScanner,
)
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
from dockyard.services.placement import Placement
from dockyard.services.pull_exclusions import PullExclusions
from dockyard.services.pull_through import PullThroughConfig, PullThroughRules
from dockyard.services.pull_through_cache import PullThroughCache
from dockyard.services.pulls import PullRecorder
from dockyard.services.readiness import Readiness
from dockyard.services.registry_policies import RegistryPolicies
from dockyard.services.replication import ReplicationService
from dockyard.services.repositories import RepositoryService
from dockyard.services.repository_admin import RepositoryAdmin
from dockyard.services.scan_config import ScanConfigService
from dockyard.services.scanning import ScanService
from dockyard.services.storage import StorageService
from dockyard.services.templates import TemplateService
from dockyard.services.uploads import UploadService


@dataclass(frozen=True)
class Services:
    """The use cases the adapters call, built once. `meta`, `blob_store` and `clock` are for the
    composition root, the CLI tools and tests: an adapter never uses them (a unit test checks)."""

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
    placement: Placement
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
    readiness: Readiness
    pull_through_rules: PullThroughRules
    pull_through: PullThroughCache
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
    placement: Placement | None = None,
    pull_through: PullThroughConfig | None = None,
    upstreams: UpstreamConnector | None = None,
) -> Services:
    """`audit_sink` takes the audit log's lines (None: no audit log); `wall_clock` is the real
    time request signatures are checked against when `clock` is shifted (--test-clock);
    `run_metrics` receives the outcomes of lifecycle runs and garbage collections; `placement`
    says where calls run (default: every call in a worker thread); `upstreams` reaches the
    pull-through cache's upstream registries (None: none)."""
    placement = placement or Placement()
    # Keys live in the database so that every server process signs and checks alike.
    token_key = meta.secret("registry-token-key", os.urandom(32))
    page_key = meta.secret("page-token-key", os.urandom(32))
    audit = AuditLog(audit_sink, clock)
    events = EventPublisher(meta, policy.webhooks, clock, policy.region)
    access = AccessControl(meta, policy.region)
    # Lifecycle storage is written directly: LifecycleService needs the repositories, which
    # need the templates (no cycle of services).
    templates = TemplateService(
        meta,
        access,
        clock,
        page_key,
        audit,
        lambda repo, text: meta.put_lifecycle_policy(repo.id, text, clock.now()),
    )
    repos = RepositoryService(meta, clock, policy.create_on_push, audit, templates)
    exclusions = PullExclusions(meta, clock, page_key)
    pulls = PullRecorder(meta, exclusions)
    queries = ImageQueries(meta, repos, page_key)
    scan_config = ScanConfigService(meta, audit)
    settings = AccountSettings(meta, audit)
    scans = ScanService(meta, blobs, scanner, queries, scan_config, clock, events)
    archive = ArchiveService(meta, clock, policy.restore_seconds)
    replication = ReplicationService(
        meta, queries, clock, policy.region, policy.replica_regions, audit
    )
    # A tag moved to an image, or a restore, replicates it again (on_repushed).
    images = ImageService(
        meta,
        repos,
        pulls,
        clock,
        events,
        audit,
        on_pushed=(scans.on_push, replication.on_pushed),
        on_repushed=(archive.on_repushed, replication.on_pushed),
    )
    lifecycle = LifecycleService(meta, repos, archive, clock, events, audit, run_metrics)
    commands = ImageCommands(meta, images, queries, clock, archive)
    rules = PullThroughRules(meta, clock, pull_through or PullThroughConfig(), upstreams, page_key)
    auth = AuthService(
        keys,
        token_key,
        clock,
        policy.accept_any_credentials,
        policy.default_account,
        wall_clock or clock,
    )
    return Services(
        meta=meta,
        blob_store=blobs,
        clock=clock,
        repositories=repos,
        images=images,
        uploads=UploadService(meta, blobs, repos, clock, settings, placement),
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
        placement=placement,
        default_account=policy.default_account,
        console=ConsoleViews(meta, queries, commands, scans, blobs),
        console_sessions=ConsoleSessions(meta, auth, clock),
        events=events,
        audit=audit,
        archive=archive,
        lifecycle=lifecycle,
        previews=LifecyclePreviews(meta, lifecycle, repos, clock, page_key),
        gc=GarbageCollector(meta, blobs, clock, gc_config, audit, run_metrics, placement),
        storage=StorageService(meta, meta, clock),
        access=access,
        registry_policies=RegistryPolicies(meta, clock, audit),
        templates=templates,
        readiness=Readiness(meta, blobs),
        pull_through_rules=rules,
        pull_through=PullThroughCache(meta, blobs, rules, images, templates, access, clock),
        replication=replication,
    )
