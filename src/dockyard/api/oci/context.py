"""What every OCI handler needs from a request: the services, the caller's account, the body."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from starlette.requests import Request

from dockyard.domain.errors import ManifestTooLarge
from dockyard.domain.manifests import MAX_MANIFEST_BYTES
from dockyard.domain.numbers import parse_decimal
from dockyard.services.composition import Services

T = TypeVar("T")


def services(request: Request) -> Services:
    return request.app.state.services


def account(request: Request) -> str:
    """The account the caller acts for; set by the auth middleware when there is one."""
    return request.scope.get("dockyard.account") or services(request).default_account


def principal(request: Request) -> str | None:
    return request.scope.get("dockyard.principal")


def name(request: Request) -> str:
    return request.path_params["name"]


async def run(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Await the (blocking) service call `fn(*args)` where the placement puts it."""
    return await services(request).placement.run(fn, *args)


def body_stream(request: Request) -> AsyncIterator[bytes]:
    return request.stream()


async def read_manifest_body(request: Request) -> bytes:
    """The whole manifest, refusing anything over the limit without reading all of it."""
    declared = parse_decimal(request.headers.get("content-length"))
    if declared is not None and declared > MAX_MANIFEST_BYTES:
        raise ManifestTooLarge(f"manifest is {declared} bytes; the limit is {MAX_MANIFEST_BYTES}")
    parts, held = [], 0
    async for chunk in request.stream():
        held += len(chunk)
        if held > MAX_MANIFEST_BYTES:
            raise ManifestTooLarge(f"manifest exceeds the limit of {MAX_MANIFEST_BYTES} bytes")
        parts.append(chunk)
    return b"".join(parts)
