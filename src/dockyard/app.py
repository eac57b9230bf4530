"""Composition root: settings -> backends -> services -> ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from dockyard.api.console.routes import console
from dockyard.api.ecr import endpoint as ecr_endpoint
from dockyard.api.oci import errors as oci_errors
from dockyard.api.oci.auth import RegistryAuth
from dockyard.api.oci.routes import ROUTES as OCI_ROUTES
from dockyard.backends.factory import (
    ConfigurationError,
    open_blob_store,
    open_metadata_store,
    open_scanner,
)
from dockyard.domain.errors import DockyardError
from dockyard.events_setup import audit_sink, event_tasks, load_webhooks, registry_clock
from dockyard.ports import AccountStore
from dockyard.services.auth import KeyRing, default_credentials, load_auth_file
from dockyard.services.clock import Clock, SystemClock
from dockyard.services.registry import Policy, Services, build_services
from dockyard.settings import Settings, from_environment

log = logging.getLogger("dockyard")


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def root(request: Request) -> Response:
    """`GET /`: a browser goes to the console; `POST /` is the ECR API (routed before this)."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/ui/", 303)
    return PlainTextResponse("Method Not Allowed", 405, headers={"Allow": "POST"})


def load_keys(settings: Settings, accounts: AccountStore) -> KeyRing:
    """The --auth-file's keys, or else the metadata database's generated account."""
    if settings.auth_file is not None:
        try:
            return load_auth_file(settings.auth_file)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigurationError(f"cannot use --auth-file {settings.auth_file}: {exc}") from exc
    try:
        keys, path, created = default_credentials(accounts, settings.data_dir)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"cannot use the generated account: {exc}") from exc
    if created:
        # Only the path: the secret must not end up in a log that is kept.
        print(f"dockyard: wrote the account and access key of this database to {path.resolve()}",
              file=sys.stderr, flush=True)
    return keys


def create_services(settings: Settings, clock: Clock | None = None) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    blobs = open_blob_store(settings.resolved_storage_url)
    blobs.probe()
    # Only the embedded default (no --database-url) migrates itself: zero setup on one machine.
    meta = open_metadata_store(settings.resolved_database_url, migrate=settings.database_url is None)
    meta.probe()
    keys = load_keys(settings, meta)
    policy = Policy(keys.accounts[0], settings.create_on_push, settings.accept_any_credentials,
                    settings.region, tuple(load_webhooks(settings.config_file)))
    scanner = open_scanner(settings.data_dir)
    wall = SystemClock()
    return build_services(meta, blobs, scanner, clock or registry_clock(settings, wall), keys,
                          policy, audit_sink(settings.audit_log), wall)


def create_app(settings: Settings, services: Services | None = None,
               single_process: bool = True) -> Starlette:
    svc = services or create_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_flush_pulls(svc, settings.pull_flush_seconds)),
                 asyncio.create_task(_scan_worker(svc, settings.scan_poll_seconds)),
                 *event_tasks(svc, settings)]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(svc.pulls.flush)

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/", ecr_endpoint.handle, methods=["POST"]),
            Route("/", root, methods=["GET"]),
            *OCI_ROUTES,
            console(),
        ],
        middleware=[Middleware(RegistryAuth, auth=svc.auth, access=svc.access, calls=svc.calls)],
        exception_handlers={
            DockyardError: oci_errors.handle_domain_error,
            HTTPException: oci_errors.handle_http_error,
        },
        lifespan=lifespan,
    )
    app.state.services = svc
    app.state.redirect_blobs = settings.redirect_blobs
    svc.calls.inline = inline_calls(svc, single_process)
    app.state.region = settings.region
    return app


def inline_calls(svc: Services, single_process: bool) -> bool:
    """Whether bounded metadata calls may run on the event loop (services/metadata_calls.py):
    only on the embedded default in one process. A store across the network (PostgreSQL, S3)
    would stall the loop for a round trip, and with several processes on one SQLite file a
    writer may wait for another process's lock, so those keep threads.
    """
    return single_process and svc.meta.calls_are_local and svc.blob_store.reads_are_local


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
        except Exception:  # a failed flush must not stop the next one
            log.exception("could not record pull times")


async def _scan_worker(svc: Services, every: float) -> None:
    """Run queued scans one at a time in a worker thread; pushes never wait for them."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    while True:
        try:
            await asyncio.to_thread(svc.scans.follow_data_changes)
            while await asyncio.to_thread(svc.scans.work_once, name):
                pass
        except Exception:  # the worker outlives any one failure
            log.exception("scan worker error")
        await asyncio.sleep(every)
