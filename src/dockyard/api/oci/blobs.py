"""`/v2/<name>/blobs/<digest>`: GET (with Range), HEAD, DELETE."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from dockyard.api.oci import context as ctx
from dockyard.api.oci.errors import API_VERSION
from dockyard.services.blobs import BlobRead


async def head_or_get_blob(request: Request) -> Response:
    svc = ctx.services(request)
    read: BlobRead = await ctx.quick_call(
        request, svc.blobs.open, ctx.account(request), ctx.name(request),
        request.path_params["digest"], request.headers.get("range"),
        request.method == "GET" and request.app.state.redirect_blobs, request.method == "GET",
    )
    if read.redirect_url:
        return RedirectResponse(read.redirect_url, 307, headers=API_VERSION)
    headers = _headers(read)
    if request.method == "HEAD":
        return Response(b"", 200, headers=headers, media_type="application/octet-stream")
    chunks = read.chunks(svc.blob_store)
    stream = _inline(chunks) if svc.blob_store.reads_are_local else iterate_in_threadpool(chunks)
    status = 206 if read.range else 200
    return StreamingResponse(stream, status, headers=headers, media_type="application/octet-stream")


def _headers(read: BlobRead) -> dict[str, str]:
    headers = {**API_VERSION, "Docker-Content-Digest": read.digest, "Accept-Ranges": "bytes",
               "ETag": f'"{read.digest}"'}
    if read.range is None:
        headers["Content-Length"] = str(read.size)
    else:
        headers["Content-Length"] = str(read.range.length)
        headers["Content-Range"] = f"bytes {read.range.start}-{read.range.end}/{read.size}"
    return headers


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
