"""Every Prometheus metric of Dockyard, and the functions other parts call to record one.

Labels are bounded by construction: a protocol (oci, ecr, other), an operation (an ECR
operation name or an OCI route template with its method, never a raw path), a status code
or an outcome word. Repository names and digests never become labels.

With `serve --workers N` each worker process records into files under
PROMETHEUS_MULTIPROC_DIR (set by `serve` before any worker starts, see server/serve.py) and
`exposition()` adds them up, so any worker's /metrics answers for all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

disable_created_metrics()  # the `_created` series double the output and nobody graphs them

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
)

REQUESTS = Counter(
    "dockyard_http_requests", "HTTP requests answered", ["protocol", "operation", "status"]
)
LATENCY = Histogram(
    "dockyard_http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer",
    ["protocol", "operation"],
    buckets=_LATENCY_BUCKETS,
)
BYTES_RECEIVED = Counter(
    "dockyard_http_received_bytes", "Request body bytes received", ["protocol"]
)
BYTES_SENT = Counter("dockyard_http_sent_bytes", "Response body bytes sent", ["protocol"])
UPLOADS_IN_PROGRESS = Gauge(
    "dockyard_uploads_in_progress",
    "Blob upload requests being received now (OCI PATCH/PUT of an upload, ECR UploadLayerPart)",
    multiprocess_mode="livesum",
)
AUTH_FAILURES = Counter(
    "dockyard_auth_failures", "Requests refused for their credentials", ["protocol"]
)
SCAN_QUEUE = Gauge(
    "dockyard_scan_queue_depth", "Scan jobs waiting or running", multiprocess_mode="max"
)
SCAN_DURATION = Histogram(
    "dockyard_scan_duration_seconds",
    "Time one image scan took",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
GC_RUNS = Counter("dockyard_gc_runs", "Garbage collection sweeps", ["outcome"])
GC_DELETED_BLOBS = Counter("dockyard_gc_deleted_blobs", "Blobs garbage collection deleted")
GC_DELETED_BYTES = Counter("dockyard_gc_deleted_bytes", "Bytes garbage collection freed")
LIFECYCLE_RUNS = Counter(
    "dockyard_lifecycle_runs", "Lifecycle policy evaluations applied", ["outcome"]
)
LIFECYCLE_ACTIONS = Counter(
    "dockyard_lifecycle_actions", "Lifecycle actions taken on images", ["action"]
)
DB_POOL_IN_USE = Gauge(
    "dockyard_db_pool_connections_in_use",
    "Metadata database connections checked out of the pool",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "dockyard_db_pool_size", "Metadata database connection pool size", multiprocess_mode="livesum"
)


# -- for the parts that do the work --------------------------------------------------------------


def scan_finished(seconds: float) -> None:
    SCAN_DURATION.observe(seconds)


def scan_queue_depth(jobs: int) -> None:
    SCAN_QUEUE.set(jobs)


def gc_finished(outcome: str, deleted_blobs: int = 0, deleted_bytes: int = 0) -> None:
    """One garbage collection sweep ended; `outcome` is a word such as ok, failed, dry_run."""
    GC_RUNS.labels(outcome).inc()
    GC_DELETED_BLOBS.inc(deleted_blobs)
    GC_DELETED_BYTES.inc(deleted_bytes)


def lifecycle_finished(outcome: str, actions: dict[str, int] | None = None) -> None:
    """One lifecycle run ended; `actions` counts images per action word (expire, archive...)."""
    LIFECYCLE_RUNS.labels(outcome).inc()
    for action, count in (actions or {}).items():
        LIFECYCLE_ACTIONS.labels(action).inc(count)


def database_pool(in_use: int, size: int) -> None:
    DB_POOL_IN_USE.set(in_use)
    DB_POOL_SIZE.set(size)


# -- exposition --------------------------------------------------------------------------------


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROCESS_DIR))


def registry() -> CollectorRegistry:
    """What /metrics shows: this process, or every worker's files in multiprocess mode."""
    if not multiprocess_mode():
        return REGISTRY
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined)
    return combined


def exposition() -> bytes:
    return generate_latest(registry())


def process_exited(pid: int) -> None:
    """Drop a finished worker's live gauges (uploads in progress, pool use) from the sums."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(pid)
