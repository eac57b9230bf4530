"""`/v2/<name>/blobs/uploads/...`: start (with mount or monolithic), PATCH, PUT, GET, DELETE."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.api.oci import context as ctx
from dockyard.api.oci.errors import API_VERSION
from dockyard.domain.errors import DigestInvalid, UploadInvalid
from dockyard.domain.models import Upload
from dockyard.domain.numbers import parse_decimal
from dockyard.domain.ranges import parse_content_range


async def start_upload(request: Request) -> Response:
    svc, account, name = ctx.services(request), ctx.account(request), ctx.name(request)
    query = request.query_params
    if "mount" in query and "from" in query:
        mounted = await ctx.run(
            request, svc.uploads.mount, account, name, query["mount"], query["from"]
        )
        if mounted:
            return _blob_created(name, query["mount"])
    if "digest" in query:
        digest = await svc.uploads.push_monolithic(account, name, query["digest"], request.stream())
        return _blob_created(name, str(digest))
    upload = await ctx.run(request, svc.uploads.start, account, name)
    return _upload_response(name, upload, 202)


async def patch_upload(request: Request) -> Response:
    svc, name = ctx.services(request), ctx.name(request)
    start = _chunk_start(request)
    upload = await svc.uploads.append(
        ctx.account(request), name, request.path_params["upload_id"], request.stream(), start
    )
    return _upload_response(name, upload, 202)


async def put_upload(request: Request) -> Response:
    svc, name = ctx.services(request), ctx.name(request)
    digest = request.query_params.get("digest")
    if not digest:
        raise DigestInvalid("the digest query parameter is required to complete an upload")
    done = await svc.uploads.complete(
        ctx.account(request), name, request.path_params["upload_id"], digest, request.stream()
    )
    return _blob_created(name, str(done))


async def get_upload(request: Request) -> Response:
    svc, name = ctx.services(request), ctx.name(request)
    upload = await ctx.run(
        request, svc.uploads.status, ctx.account(request), name, request.path_params["upload_id"]
    )
    return _upload_response(name, upload, 204)


async def delete_upload(request: Request) -> Response:
    svc = ctx.services(request)
    # In a thread: cancelling deletes the upload's file, which may be large.
    await ctx.run(
        request,
        svc.uploads.cancel,
        ctx.account(request),
        ctx.name(request),
        request.path_params["upload_id"],
    )
    return Response(b"", 204, headers=API_VERSION)


def _chunk_start(request: Request) -> int | None:
    """Where the chunk says it starts; its Content-Range must span its Content-Length."""
    content_range = request.headers.get("content-range")
    if not content_range:
        return None
    start, end = parse_content_range(content_range)
    length = parse_decimal(request.headers.get("content-length"))
    if length is not None and length != end - start + 1:
        raise UploadInvalid(
            f"Content-Range {content_range} does not span the {length} bytes of the chunk"
        )
    return start


def _upload_response(name: str, upload: Upload, status: int) -> Response:
    headers = {
        **API_VERSION,
        "Location": f"/v2/{name}/blobs/uploads/{upload.id}",
        "Docker-Upload-UUID": upload.id,
        "Range": f"0-{max(upload.size - 1, 0)}",
        "Content-Length": "0",
    }
    return Response(b"", status, headers=headers)


def _blob_created(name: str, digest: str) -> Response:
    headers = {
        **API_VERSION,
        "Location": f"/v2/{name}/blobs/{digest}",
        "Docker-Content-Digest": digest,
        "Content-Length": "0",
    }
    return Response(b"", 201, headers=headers)
