"""Composition root: settings -> backends -> services -> ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from typing import cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from dockyard import metrics, startup
from dockyard.api import health
from dockyard.api.console.routes import console
from dockyard.api.ecr import endpoint as ecr_endpoint
from dockyard.api.observe import Observe
from dockyard.api.oci import disconnects as oci_disconnects
from dockyard.api.oci import errors as oci_errors
from dockyard.api.oci.auth import RegistryAuth
from dockyard.api.oci.routes import ROUTES as OCI_ROUTES
from dockyard.backends.factory import (
    ConfigurationError,
    blobs_are_local,
    database_in_process,
    open_blob_store,
    open_metadata_store,
    open_scanner,
)
from dockyard.backends.upstream.client import HttpUpstreamConnector
from dockyard.data_dir import make_private_by_default, secure_data_dir
from dockyard.domain.errors import DockyardError
from dockyard.events_setup import audit_sink, event_tasks, load_webhooks, registry_clock
from dockyard.ports import AccountStore, BlobStore, OperationalStats
from dockyard.replication_setup import load_regions, replication_tasks
from dockyard.services.auth import (
    CREDENTIALS_FILE,
    KeyRing,
    default_credentials,
    load_auth_file,
)
from dockyard.services.clock import Clock, SystemClock
from dockyard.services.composition import Policy, Services, build_services
from dockyard.services.gc import GcConfig
from dockyard.services.placement import Placement
from dockyard.services.pull_through import PullThroughConfig, UpstreamSecrets
from dockyard.services.scanning import SCAN_JOB
from dockyard.settings import Settings, from_environment

log = logging.getLogger("dockyard")


async def root(request: Request) -> Response:
    """`GET /`: a browser goes to the console; `POST /` is the ECR API (routed before this)."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/ui/", 303)
    return PlainTextResponse("Method Not Allowed", 405, headers={"Allow": "POST"})


def load_keys(settings: Settings, accounts: AccountStore, create: bool = True) -> KeyRing:
    """The --auth-file's keys, or else the metadata database's generated account."""
    if settings.auth_file is not None:
        try:
            return load_auth_file(settings.auth_file)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read --auth-file {settings.auth_file}: {exc.strerror}"
            ) from exc
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot use --auth-file {settings.auth_file}: {exc}") from exc
    if not create:
        path = settings.data_dir / CREDENTIALS_FILE
        return load_auth_file(path) if path.exists() else KeyRing([])
    try:
        keys, path, created = default_credentials(accounts, settings.data_dir)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"cannot use the generated account: {exc}") from exc
    if created:
        # Only the path: the secret must not end up in a log that is kept.
        print(
            f"dockyard: wrote the account and access key of this database to {path.resolve()}",
            file=sys.stderr,
            flush=True,
        )
    return keys


def create_services(
    settings: Settings,
    clock: Clock | None = None,
    *,
    create: bool = True,
    single_process: bool = True,
) -> Services:
    """The services over the configured stores. With `create` (a server) the data directory,
    the embedded database and the first credentials are made if missing, and removed again if
    start-up fails; without (`dockyard scan`) they must already exist. `single_process`: False
    in each process of `serve --workers N`."""
    if not create:
        startup.require_existing(settings)
        return _open_services(settings, clock, False, single_process)
    make_private_by_default()  # what start-up creates is private from the first file on
    with startup.prepared(settings.data_dir):
        secure_data_dir(settings.data_dir)
        return _open_services(settings, clock, True, single_process)


def _open_services(
    settings: Settings, clock: Clock | None, create: bool, single_process: bool
) -> Services:
    # The stores first: credentials are made (and announced) only once they work.
    blobs = _blob_store(settings.resolved_storage_url)
    # Only the embedded default (no --database-url) migrates itself: zero setup on one machine.
    meta = open_metadata_store(
        settings.resolved_database_url, migrate=settings.database_url is None
    )
    meta.probe()
    keys = load_keys(settings, meta, create)
    first = keys.accounts[0] if keys.accounts else ""
    policy = Policy(
        first,
        settings.create_on_push,
        settings.accept_any_credentials,
        settings.region,
        tuple(load_webhooks(settings.config_file)),
        restore_seconds=settings.restore_delay,
        replica_regions=tuple(r.name for r in load_regions(settings.config_file)),
    )
    scanner = open_scanner(settings.data_dir)
    wall = SystemClock()
    gc_config = GcConfig(settings.gc_grace, settings.upload_ttl, settings.gc_interval)
    placement = call_placement(settings, single_process, busy=lambda: meta.writing)
    return build_services(
        meta,
        blobs,
        scanner,
        clock or registry_clock(settings, wall),
        keys,
        policy,
        audit_sink(settings.audit_log),
        wall,
        gc_config,
        metrics,
        placement,
        _pull_through_config(settings),
        HttpUpstreamConnector(),
    )


def call_placement(settings: Settings, single_process: bool, busy: Callable[[], bool]) -> Placement:
    """Where calls run (services/placement.py). Bounded calls run on the event loop only on the
    embedded default in one process: a store across the network (PostgreSQL, S3) would stall
    the loop for a round trip, and with several processes on one SQLite file a writer may wait
    for another process's lock. `busy` tells whether a write of this process is open."""
    local_blobs = blobs_are_local(settings.resolved_storage_url)
    inline = single_process and local_blobs and database_in_process(settings.resolved_database_url)
    return Placement(inline=inline, local_blobs=local_blobs, busy=busy)


def _pull_through_config(settings: Settings) -> PullThroughConfig:
    """--insecure-upstream, --pull-through-refresh and the auth file's [[accounts.secrets]]."""
    secrets = UpstreamSecrets()
    if settings.auth_file is not None:
        with open(settings.auth_file, "rb") as handle:  # read (and checked) by load_keys first
            secrets = UpstreamSecrets.from_auth_document(tomllib.load(handle))
    return PullThroughConfig(
        frozenset(settings.insecure_upstreams), settings.pull_through_refresh, secrets
    )


def _blob_store(url: str) -> BlobStore:
    blobs = open_blob_store(url)
    try:
        blobs.probe()
    except OSError as exc:
        raise ConfigurationError(f"cannot use --storage-url {url}: {exc.strerror or exc}") from exc
    return blobs


def create_app(
    settings: Settings, services: Services | None = None, single_process: bool = True
) -> Starlette:
    svc = services or create_services(settings, single_process=single_process)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(_flush_pulls(svc, settings.pull_flush_seconds)),
            asyncio.create_task(_scan_worker(svc, settings.scan_poll_seconds)),
            asyncio.create_task(_lifecycle_worker(svc, settings)),
            asyncio.create_task(_gc_worker(svc, settings.gc_interval)),
            asyncio.create_task(_sample_stats(svc, settings.stats_seconds)),
            *event_tasks(svc, settings),
            *replication_tasks(svc, settings),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(svc.pulls.flush)
            metrics.process_exited(os.getpid())

    app = Starlette(
        routes=[
            *_operator_routes(settings),
            Route("/", ecr_endpoint.handle, methods=["POST"]),
            Route("/", root, methods=["GET"]),
            *OCI_ROUTES,
            console(),
        ],
        middleware=[
            Middleware(
                Observe,
                access_log=settings.access_log,
                log_format=settings.log_format,
                record_metrics=settings.record_metrics,
            ),
            Middleware(RegistryAuth, auth=svc.auth, access=svc.access, placement=svc.placement),
        ],
        exception_handlers={
            ClientDisconnect: oci_disconnects.handle_client_disconnect,
            DockyardError: oci_errors.handle_domain_error,
            HTTPException: oci_errors.handle_http_error,
        },
        lifespan=lifespan,
    )
    app.state.services = svc
    app.state.redirect_blobs = settings.redirect_blobs
    app.state.region = settings.region
    return app


def _operator_routes(settings: Settings) -> list[Route]:
    routes = [Route("/healthz", health.healthz), Route("/readyz", health.readyz)]
    if settings.metrics_route:
        routes.append(Route("/metrics", health.metrics_endpoint))
    return routes


def app_from_environment() -> Starlette:
    """The app of one `dockyard serve --workers N` worker process (a uvicorn app factory).

    uvicorn starts worker processes from an import string, so each builds its own services (its
    own database pool, blob store client and background tasks) from the settings the CLI put in
    the environment. Each scan still runs once: workers claim scans as jobs in the database.
    """
    return create_app(from_environment(), single_process=False)


async def _flush_pulls(svc: Services, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(svc.pulls.flush)
            metrics.process_exited(os.getpid())
        except Exception:  # a failed flush must not stop the next one
            log.exception("could not record pull times")


async def _scan_worker(svc: Services, every: float) -> None:
    """Run queued scans one at a time in a worker thread; pushes never wait for them."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    while True:
        try:
            await asyncio.to_thread(svc.scans.follow_data_changes)
            while await _timed_scan(svc, name):
                pass
        except Exception:  # the worker outlives any one failure
            log.exception("scan worker error")
        await asyncio.sleep(every)


def _show_lifecycle_actions() -> None:
    """Lifecycle actions are logged at info level (services/lifecycle.py); a server shows them
    on stderr beside uvicorn's lines unless a handler was configured for them already."""
    logger = logging.getLogger("dockyard.lifecycle")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


async def _lifecycle_worker(svc: Services, settings: Settings) -> None:
    """Finish due restores and orphaned previews every tick, and evaluate the lifecycle policies
    that are due (looked for at most once a minute). Every piece is claimed through the
    database, so with several processes each runs in one of them."""
    _show_lifecycle_actions()
    name = f"{socket.gethostname()}:{os.getpid()}:lifecycle"
    schedule_every = min(settings.lifecycle_interval, 60.0)
    last_scheduled = float("-inf")
    while True:
        try:
            await asyncio.to_thread(svc.archive.finish_restores)
            await asyncio.to_thread(svc.previews.resume_stale)
            if svc.clock.now() - last_scheduled >= schedule_every:
                last_scheduled = svc.clock.now()
                await asyncio.to_thread(svc.lifecycle.run_due, name, settings.lifecycle_interval)
        except Exception:  # the worker outlives any one failure
            log.exception("lifecycle worker error")
        await asyncio.sleep(settings.lifecycle_poll_seconds)


async def _timed_scan(svc: Services, name: str) -> bool:
    started = time.perf_counter()
    worked = await asyncio.to_thread(svc.scans.work_once, name)
    if worked:
        metrics.scan_finished(time.perf_counter() - started)
    return worked


async def _sample_stats(svc: Services, every: float) -> None:
    """Refresh the gauges that come from the database: scan queue depth, pool use."""
    stats = cast(OperationalStats, svc.meta)  # the SQL store implements both ports
    while True:
        try:
            metrics.scan_queue_depth(await asyncio.to_thread(stats.pending_jobs, SCAN_JOB))
            metrics.database_pool(*stats.pool_status())
        except Exception:  # a database hiccup must not stop the sampling
            log.debug("could not sample statistics", exc_info=True)
        await asyncio.sleep(every)


async def _gc_worker(svc: Services, every: float) -> None:
    """Collect garbage every `every` seconds; the database lease lets one process at a time."""
    if every <= 0:
        return
    _show_info("dockyard.gc", "dockyard.storage")
    while True:
        await asyncio.sleep(every)
        try:
            report = await asyncio.to_thread(svc.gc.run)
            if not report.skipped:
                logging.getLogger("dockyard.gc").info("%s", report.summary())
                await asyncio.to_thread(svc.storage.after_collection, report)
        except Exception:  # the next pass goes on (deleting blobs are finished first)
            log.exception("garbage collection error")


def _show_info(*names: str) -> None:
    """Operators read what a collection freed and what is stored in the server's log: give
    these loggers a stderr handler at INFO unless logging was configured already."""
    for name in names:
        logger = logging.getLogger(name)
        if not logger.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("dockyard: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
