"""The metadata tables, for SQLite and PostgreSQL alike.

    repositories ─┬─< repo_blobs >── blobs        (blobs are global and deduplicated)
                  ├─< images ─┬─< image_refs      (child manifests and blobs an image lists)
                  │           └─< tags            (tags.repo_id repeats images.repo_id)
                  ├─< uploads
                  └─< repository_tags             (AWS resource tags, not image tags)

    account_settings, pull_exclusions             (per account, outlive repositories)
    image_scans >── finding_documents             (scan findings, stored once, by key)
    inventories, jobs                             (scanning: per manifest digest; the queue)
    secrets                                       (server-wide keys, e.g. for page tokens)
    console_sessions                              (web console sign-ins, by hash of the cookie)
    outbox                                        (webhook deliveries, see _outbox.py)
    lifecycle_policies, lifecycle_previews        (per repository: policy, schedule, preview)
    image_activations                             (archived images being restored)
    blob_pins, leases                             (garbage collection, see services/gc.py)
    registry_policies, creation_templates         (per account, see _policies.py)
    pull_through_rules, pull_through_checks       (pull-through cache, see _pull_through.py)
    gc_runs, storage_totals                       (what collections freed; stored bytes over time)
    replication_configurations, replication_tasks (per account; the copy queue, see _replication.py)

Deleting a repository deletes its rows explicitly, child tables first (see sql.py); nothing relies
on ON DELETE CASCADE, which SQLite only honours when foreign keys are switched on.

Indexes serve the hot paths; every listing page is one range scan, never a sort:

- DescribeImages with an image status (ACTIVE by default) scans (repo_id, status, pushed_at, id):
  the status is an equality prefix, so a page reads only rows it returns (plus rows the tag filter
  rejects) however many archived images sit between them. DescribeImages with ANY and ListImages
  span every status and scan (repo_id, pushed_at, id); with only the status index they would have
  to sort the whole repository. The price is one more index entry written per push.
- tags (image_id, name) gives a page's tags in one lookup per image, already sorted, and serves
  the EXISTS / NOT EXISTS of the tag filters.
- referrers look up (repo_id, subject_digest); "who references this digest" (garbage collection,
  ImageReferencedByManifestList) looks up image_refs.digest.
"""

from __future__ import annotations

import sqlalchemy as sa

from dockyard.backends.metadata.dialects import BinaryString, Id

# Stable constraint names, so migrations can refer to them on every engine.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

DIGEST = 200  # "sha512:" plus 128 hex digits fits with room to spare
NAME = 256

repositories = sa.Table(
    "repositories",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("name", BinaryString(NAME), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("tag_mutability", sa.String(32), nullable=False, server_default="MUTABLE"),
    sa.Column("mutability_exclusions", sa.Text, nullable=False, server_default="[]"),  # JSON
    sa.Column("scan_on_push", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("encryption", sa.Text, nullable=False),  # JSON
    sa.Column("policy", sa.Text, nullable=True),
    sa.UniqueConstraint("account_id", "name"),
)

blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("digest", sa.String(DIGEST), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    # Garbage collection (services/gc.py draws the state machine): live, candidate or deleting;
    # gen changes with every state change (the sweep's compare-and-set); touched_at is the last
    # observation (NULL: never observed since created_at).
    sa.Column("state", sa.String(16), nullable=False, server_default="live"),
    sa.Column("gen", sa.Integer, nullable=False, server_default="0"),
    sa.Column("touched_at", sa.Double, nullable=True),
    sa.Index(None, "state", "digest"),
)

repo_blobs = sa.Table(
    "repo_blobs",
    metadata,
    sa.Column("repo_id", Id, sa.ForeignKey("repositories.id"), primary_key=True),
    sa.Column("digest", sa.String(DIGEST), sa.ForeignKey("blobs.digest"), primary_key=True),
    # Garbage collection asks "is this blob linked anywhere?".
    sa.Index(None, "digest"),
)

images = sa.Table(
    "images",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("repo_id", Id, sa.ForeignKey("repositories.id"), nullable=False),
    sa.Column("digest", sa.String(DIGEST), nullable=False),
    sa.Column("manifest", sa.LargeBinary, nullable=False),
    sa.Column("media_type", sa.String(NAME), nullable=False),
    sa.Column("artifact_media_type", sa.String(NAME), nullable=True),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("pushed_at", sa.Double, nullable=False),
    sa.Column("last_pulled_at", sa.Double, nullable=True),
    sa.Column("subject_digest", sa.String(DIGEST), nullable=True),
    sa.Column("status", sa.String(32), nullable=False, server_default="ACTIVE"),
    sa.Column("archived_at", sa.Double, nullable=True),
    sa.Column("activated_at", sa.Double, nullable=True),
    sa.UniqueConstraint("repo_id", "digest"),
    sa.Index(None, "repo_id", "status", "pushed_at", "id"),
    sa.Index(None, "repo_id", "pushed_at", "id"),
    sa.Index(None, "repo_id", "subject_digest"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("repo_id", Id, sa.ForeignKey("repositories.id"), primary_key=True),
    sa.Column("name", BinaryString(NAME), primary_key=True),
    sa.Column("image_id", Id, sa.ForeignKey("images.id"), nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index(None, "image_id", "name"),
)

# kind is 'manifest' for an index's children and 'blob' for config and layers.
image_refs = sa.Table(
    "image_refs",
    metadata,
    sa.Column("image_id", Id, sa.ForeignKey("images.id"), primary_key=True),
    sa.Column("digest", sa.String(DIGEST), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Index(None, "digest"),
)

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("repo_id", Id, sa.ForeignKey("repositories.id"), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    # The SHA-256 state after `size` bytes (ingest/sha256_state.py), when it could be saved.
    sa.Column("hash_state", sa.LargeBinary, nullable=True),
    # Compare-and-set key: +1 with every acknowledged chunk (services/uploads.py).
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    # The acknowledged segments, space-separated blob-store names in byte order.
    sa.Column("segments", sa.Text, nullable=True),
)

# AWS resource tags of a repository (TagResource); keys are unique per repository.
repository_tags = sa.Table(
    "repository_tags",
    metadata,
    sa.Column("repo_id", Id, sa.ForeignKey("repositories.id"), primary_key=True),
    sa.Column("key", BinaryString(128), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

account_settings = sa.Table(
    "account_settings",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("name", sa.String(NAME), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Principals whose pulls are not recorded as last-pull times (ECR pull time update exclusions).
pull_exclusions = sa.Table(
    "pull_exclusions",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("principal", BinaryString(NAME), primary_key=True),
    sa.Column("created_at", sa.Double, nullable=False),
)

# Server-wide secrets every process must share (token signing keys); created once, never changed.
secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.String(NAME), primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
)

# The last scan of each image. Its findings are the keys of finding_documents, in order (a JSON
# list), read only whole: a rescan of a fleet repeats the same few thousand findings hundreds of
# thousands of times, so each document is stored once and a scan costs ~19 bytes per finding.
image_scans = sa.Table(
    "image_scans",
    metadata,
    sa.Column("image_id", Id, sa.ForeignKey("images.id"), primary_key=True),
    sa.Column("scan_type", sa.String(16), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("completed_at", sa.Double, nullable=True),
    sa.Column("source_updated_at", sa.Double, nullable=True),
    sa.Column("severity_counts", sa.Text, nullable=False),  # JSON
    sa.Column("finding_keys", sa.Text, nullable=False),  # JSON list of finding_documents.key
    sa.Index(None, "scan_type", "image_id"),
)

# One finding's JSON (as ECR's findings are built from), keyed by a hash of that text, shared by
# every scan that reports it. Documents no scan references any more (replaced by a rescan, or
# their image deleted) are deleted by a sweep once unused for a while; used_at is refreshed by
# scans that reference a document (at most once per sweep grace period), so a sweep never
# removes a document a scan being written right now relies on.
finding_documents = sa.Table(
    "finding_documents",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    # used_at before the document: SQLite reads a row's columns in order, so a scan checking its
    # documents' used_at never reads the (~1 KB) documents themselves.
    sa.Column("used_at", sa.Double, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Index(None, "used_at"),
)

# Inventories by manifest digest: content-addressed, so shared by every repository.
inventories = sa.Table(
    "inventories",
    metadata,
    sa.Column("digest", sa.String(DIGEST), primary_key=True),
    sa.Column("inventory", sa.Text, nullable=False),  # JSON
)

# Background work (scans), claimed with a lease so each job runs once across processes.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("claimed_by", sa.String(NAME), nullable=True),
    sa.Column("claimed_at", sa.Double, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
)

# Web console sign-ins. `key` is the SHA-256 of the cookie's secret: a leaked table row cannot be
# replayed as a cookie. Expired rows are swept at sign-in.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("principal", sa.String(NAME), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Index(None, "expires_at"),
)

# A blob being published by an upload: garbage collection leaves it alone while the pin lives.
blob_pins = sa.Table(
    "blob_pins",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("digest", sa.String(DIGEST), nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Index(None, "digest"),
)

# Named leases for work one process at a time may do (the garbage collector).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(NAME), nullable=True),
    sa.Column("expires_at", sa.Double, nullable=False),
)

# One registry policy per account (PutRegistryPolicy), as validated text.
registry_policies = sa.Table(
    "registry_policies",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("policy_text", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

# Repository creation templates by (account, prefix); the template's settings as one JSON
# document (a handful of rows per account, read whole and matched in Python).
creation_templates = sa.Table(
    "creation_templates",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("prefix", BinaryString(NAME), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

# Pull-through cache rules by (account, ecrRepositoryPrefix); the rule's fields as one JSON
# document (at most 50 per account, read whole and matched in Python).
pull_through_rules = sa.Table(
    "pull_through_rules",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("prefix", BinaryString(NAME), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

# When a cached tag was last checked against its upstream (ECR's 24-hour refresh), by
# repository name so that the row needs no clean-up order against the repository's rows.
pull_through_checks = sa.Table(
    "pull_through_checks",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("repository", BinaryString(NAME), primary_key=True),
    sa.Column("tag", BinaryString(NAME), primary_key=True),
    sa.Column("checked_at", sa.Double, nullable=False),
)

# What each garbage collection freed, and the stored bytes of each account after it: the
# console's "last collection" and storage-over-time plot (services/storage.py). One row per
# collection and per account and collection; reads take the newest rows by index.
gc_runs = sa.Table(
    "gc_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("finished_at", sa.Double, nullable=False),
    sa.Column("blobs_freed", sa.BigInteger, nullable=False),
    sa.Column("bytes_freed", sa.BigInteger, nullable=False),
    sa.Column("uploads_expired", sa.BigInteger, nullable=False),
)

storage_totals = sa.Table(
    "storage_totals",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("recorded_at", sa.Double, primary_key=True),
    sa.Column("total_bytes", sa.BigInteger, nullable=False),
)

REF_MANIFEST = "manifest"
REF_BLOB = "blob"

# The webhook outbox: one row per event per webhook, written in the transaction of the change it
# reports; delivered rows are deleted, rows given up on stay DEAD. Dispatchers claim due rows
# like jobs; (state, next_attempt_at) finds them without reading dead or future ones.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("webhook", sa.String(NAME), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="PENDING"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Double, nullable=False),
    sa.Column("claimed_by", sa.String(NAME), nullable=True),
    sa.Column("claimed_at", sa.Double, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index(None, "state", "next_attempt_at"),
)

# A repository's lifecycle policy (PutLifecyclePolicy) and its scheduled evaluation: a run is
# claimed by setting claimed_by/claimed_until, so one process evaluates a policy at a time.
lifecycle_policies = sa.Table(
    "lifecycle_policies",
    metadata,
    sa.Column("repo_id", Id, sa.ForeignKey("repositories.id"), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("last_evaluated_at", sa.Double, nullable=True),
    sa.Column("claimed_by", sa.String(NAME), nullable=True),
    sa.Column("claimed_until", sa.Double, nullable=True),
)

# The last lifecycle policy preview of a repository; results are a JSON list once COMPLETE.
lifecycle_previews = sa.Table(
    "lifecycle_previews",
    metadata,
    sa.Column("repo_id", Id, sa.ForeignKey("repositories.id"), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("claimed_by", sa.String(NAME), nullable=True),
    sa.Column("claimed_until", sa.Double, nullable=True),
    sa.Column("results", sa.Text, nullable=True),
)

# Images being restored from archive (ACTIVATING) and when they become ACTIVE. A small side
# table, so the periodic promotion never scans `images`; no foreign keys: a row whose image was
# deleted meanwhile promotes nothing and is dropped.
image_activations = sa.Table(
    "image_activations",
    metadata,
    sa.Column("repo_id", Id, primary_key=True),
    sa.Column("digest", sa.String(DIGEST), primary_key=True),
    sa.Column("due_at", sa.Double, nullable=False),
    sa.Index(None, "due_at"),
)


# Replication (PutReplicationConfiguration): one configuration per account, as the validated
# JSON document; and one task per (image, destination), which is both the durable queue of
# copies (claimed like the outbox, see _claims.py) and the status DescribeImageReplicationStatus
# reports. Rows outlive their repository's deletion (the task then FAILS: no source).
replication_configurations = sa.Table(
    "replication_configurations",
    metadata,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

replication_tasks = sa.Table(
    "replication_tasks",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("repo_id", Id, nullable=False),
    sa.Column("repository", BinaryString(NAME), nullable=False),
    sa.Column("digest", sa.String(DIGEST), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("registry_id", sa.String(12), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("failure", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Double, nullable=False),
    sa.Column("claimed_by", sa.String(NAME), nullable=True),
    sa.Column("claimed_at", sa.Double, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.UniqueConstraint("repo_id", "digest", "region", "registry_id"),
    sa.Index(None, "status", "next_attempt_at"),
)
