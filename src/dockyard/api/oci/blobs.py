"""`/v2/<name>/blobs/<digest>`: GET (with Range), HEAD, DELETE."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator

from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from dockyard.api.oci import context as ctx
from dockyard.api.oci.errors import API_VERSION
from dockyard.domain.errors import BlobNotFound
from dockyard.domain.pull_through import UpstreamError
from dockyard.ports import LocalBlobFiles
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
            fetched = await ctx.call(svc.pull_through.blob, ctx.account(request),
                                     ctx.name(request), request.path_params["digest"])
        if fetched is None:
            read = await _open(request)
        else:
            return UpstreamBlobResponse(
                iterate_in_threadpool(fetched.chunks), 200, media_type="application/octet-stream",
                headers={**API_VERSION, "Docker-Content-Digest": request.path_params["digest"]})
    if read.redirect_url:
        return RedirectResponse(read.redirect_url, 307, headers=API_VERSION)
    headers = _headers(read)
    if request.method == "HEAD":
        return Response(b"", 200, headers=headers, media_type="application/octet-stream")
    status = 206 if read.range else 200
    sendable = _open_for_zero_copy(request, svc.blob_store, read)
    if sendable is not None:
        return ZeroCopyResponse(sendable, read, status, headers)
    chunks = read.chunks(svc.blob_store)
    stream = _inline(chunks) if svc.blob_store.reads_are_local else iterate_in_threadpool(chunks)
    return StreamingResponse(stream, status, headers=headers, media_type="application/octet-stream")


class UpstreamBlobResponse(StreamingResponse):
    """A blob streamed from a pull-through upstream as it arrives. If the upstream fails or its
    bytes do not match the digest, the response is left unfinished: the client sees the body
    cut short (never a complete wrong blob), and the cache stored nothing."""

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except UpstreamError as exc:
            log.warning("pull-through blob stream stopped: %s", exc)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _open(request: Request) -> BlobRead:
    return await ctx.quick_call(
        request, ctx.services(request).blobs.open, ctx.account(request), ctx.name(request),
        request.path_params["digest"], request.headers.get("range"),
        request.method == "GET" and request.app.state.redirect_blobs, request.method == "GET",
    )


def _headers(read: BlobRead) -> dict[str, str]:
    headers = {**API_VERSION, "Docker-Content-Digest": read.digest, "Accept-Ranges": "bytes",
               "ETag": f'"{read.digest}"'}
    if read.range is None:
        headers["Content-Length"] = str(read.size)
    else:
        headers["Content-Length"] = str(read.range.length)
        headers["Content-Range"] = f"bytes {read.range.start}-{read.range.end}/{read.size}"
    return headers


ZERO_COPY = "http.response.zerocopysend"  # ASGI extension the server offers (api/zero_copy.py)


def _open_for_zero_copy(request: Request, store: object, read: BlobRead) -> int | None:
    """A descriptor of the blob's file when the server can send it without copying, else None
    (TLS, a store that is not local files, or the file gone: the usual path says so)."""
    if ZERO_COPY not in request.scope.get("extensions", {}) or not isinstance(store, LocalBlobFiles):
        return None
    try:
        return os.open(store.local_file(read.digest), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
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
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            await send({"type": ZERO_COPY, "file": self.fd, "offset": self.offset,
                        "count": self.count})
        finally:
            os.close(self.fd)


async def _inline(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Local reads run on the loop: a cached 1 MiB takes well under a millisecond, and a cold
    # range is read ahead by the kernel well before it is asked for (file_reads.py); a thread
    # hop per chunk costs more.
    for chunk in chunks:
        yield chunk


async def delete_blob(request: Request) -> Response:
    svc = ctx.services(request)
    await ctx.quick_call(request, svc.blobs.unlink, ctx.account(request), ctx.name(request),
                         request.path_params["digest"])
    return Response(b"", 202, headers=API_VERSION)
