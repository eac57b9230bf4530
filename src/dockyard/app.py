"""Composition root: settings -> backends -> services -> ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dockyard.api.oci import errors as oci_errors
from dockyard.api.oci.routes import ROUTES as OCI_ROUTES
from dockyard.backends.factory import open_blob_store, open_metadata_store
from dockyard.domain.errors import DockyardError
from dockyard.services.clock import Clock, SystemClock
from dockyard.services.registry import Services, build_services
from dockyard.settings import Settings

log = logging.getLogger("dockyard")


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def create_services(settings: Settings, clock: Clock | None = None) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    blobs = open_blob_store(settings.resolved_storage_url)
    blobs.probe()
    meta = open_metadata_store(settings.resolved_database_url)
    meta.probe()
    return build_services(meta, blobs, clock or SystemClock(), settings.default_account,
                          settings.create_on_push)


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    svc = services or create_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        flusher = asyncio.create_task(_flush_pulls(svc, settings.pull_flush_seconds))
        try:
            yield
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            await asyncio.to_thread(svc.pulls.flush)

    app = Starlette(
        routes=[Route("/healthz", healthz), *OCI_ROUTES],
        exception_handlers={
            DockyardError: oci_errors.handle_domain_error,
            HTTPException: oci_errors.handle_http_error,
        },
        lifespan=lifespan,
    )
    app.state.services = svc
    app.state.redirect_blobs = settings.redirect_blobs
    return app


async def _flush_pulls(svc: Services, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(svc.pulls.flush)
        except Exception:  # a failed flush must not stop the next one
            log.exception("could not record pull times")
