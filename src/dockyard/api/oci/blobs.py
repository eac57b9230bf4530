"""`/v2/<name>/blobs/<digest>`: GET (with Range), HEAD, DELETE."""

from __future__ import annotations

import logging
import os

from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from dockyard.api.oci import context as ctx
from dockyard.api.oci.errors import API_VERSION
from dockyard.domain.errors import BlobNotFound
from dockyard.domain.pull_through import UpstreamError
from dockyard.services.blobs import BlobRead

log = logging.getLogger("dockyard.pull_through")


async def head_or_get_blob(request: Request) -> Response:
    svc = ctx.services(request)
    try:
        read = await _open(request)
    except BlobNotFound:
        # A blob of a pull-through cached image may still be upstream: streamed from there
        # while it is stored, or (another request fetched it meanwhile) read locally.
        fetched = None
        if request.method == "GET":
            fetched = await ctx.run(
                request,
                svc.pull_through.blob,
                ctx.account(request),
                ctx.name(request),
                request.path_params["digest"],
            )
        if fetched is None:
            read = await _open(request)
        else:
            return UpstreamBlobResponse(
                iterate_in_threadpool(fetched.chunks),
                200,
                media_type="application/octet-stream",
                headers={**API_VERSION, "Docker-Content-Digest": request.path_params["digest"]},
            )
    if read.redirect_url:
        return RedirectResponse(read.redirect_url, 307, headers=API_VERSION)
    headers = _headers(read)
    if request.method == "HEAD":
        return Response(b"", 200, headers=headers, media_type="application/octet-stream")
    status = 206 if read.range else 200
    sendable = _open_for_zero_copy(request, svc.blobs.local_file(read))
    if sendable is not None:
        return ZeroCopyResponse(sendable, read, status, headers)
    chunks = svc.blobs.chunks(read)
    return StreamingResponse(
        svc.placement.stream(chunks), status, headers=headers, media_type="application/octet-stream"
    )


class UpstreamBlobResponse(StreamingResponse):
    """A blob streamed from a pull-through upstream as it arrives. If the upstream fails or its
    bytes do not match the digest, the response is left unfinished: the client sees the body
    cut short (never a complete wrong blob), and the cache stored nothing."""

    async def stream_response(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except UpstreamError as exc:
            log.warning("pull-through blob stream stopped: %s", exc)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _open(request: Request) -> BlobRead:
    return await ctx.run(
        request,
        ctx.services(request).blobs.open,
        ctx.account(request),
        ctx.name(request),
        request.path_params["digest"],
        request.headers.get("range"),
        request.method == "GET" and request.app.state.redirect_blobs,
        request.method == "GET",
    )


def _headers(read: BlobRead) -> dict[str, str]:
    headers = {
        **API_VERSION,
        "Docker-Content-Digest": read.digest,
        "Accept-Ranges": "bytes",
        "ETag": f'"{read.digest}"',
    }
    if read.range is None:
        headers["Content-Length"] = str(read.size)
    else:
        headers["Content-Length"] = str(read.range.length)
        headers["Content-Range"] = f"bytes {read.range.start}-{read.range.end}/{read.size}"
    return headers


ZERO_COPY = "http.response.zerocopysend"  # ASGI extension the server offers (server/zero_copy.py)


def _open_for_zero_copy(request: Request, path: str | None) -> int | None:
    """A descriptor of the blob's file when the server can send it without copying, else None
    (TLS, a store that is not local files, or the file gone: the usual path says so)."""
    if ZERO_COPY not in request.scope.get("extensions", {}) or path is None:
        return None
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None


class ZeroCopyResponse(Response):
    """Headers as any blob response; the body is `count` bytes of an open file, handed to the
    server by descriptor (which this response closes)."""

    def __init__(self, fd: int, read: BlobRead, status: int, headers: dict[str, str]) -> None:
        super().__init__(None, status, headers=headers, media_type="application/octet-stream")
        self.fd = fd
        self.offset = read.range.start if read.range else 0
        self.count = read.range.length if read.range else read.size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            await send(
                {"type": ZERO_COPY, "file": self.fd, "offset": self.offset, "count": self.count}
            )
        finally:
            os.close(self.fd)


async def delete_blob(request: Request) -> Response:
    svc = ctx.services(request)
    await ctx.run(
        request,
        svc.blobs.unlink,
        ctx.account(request),
        ctx.name(request),
        request.path_params["digest"],
    )
    return Response(b"", 202, headers=API_VERSION)
