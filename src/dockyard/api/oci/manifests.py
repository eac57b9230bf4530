"""`/v2/<name>/manifests/<reference>`: GET, HEAD, PUT, DELETE."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.api.oci import context as ctx
from dockyard.api.oci.errors import API_VERSION
from dockyard.domain.digests import is_digest


async def get_manifest(request: Request) -> Response:
    svc, reference = ctx.services(request), request.path_params["reference"]
    account, name = ctx.account(request), ctx.name(request)
    # A GET counts as a pull, a HEAD does not; a miss under a pull-through cache rule (or a
    # cached tag due for its upstream check) goes to the upstream, in a thread.
    record, principal = request.method == "GET", ctx.principal(request)
    image = await ctx.run(
        request, svc.pull_through.local, account, name, reference, principal, record
    )
    if image is None:
        image = await ctx.run(
            request, svc.pull_through.fetch, account, name, reference, principal, record
        )
    accepted = [part for value in request.headers.getlist("accept") for part in value.split(",")]
    image = svc.images.as_accepted(image, is_digest(reference), accepted)
    assert image.manifest is not None
    headers = {**API_VERSION, "Docker-Content-Digest": image.digest, "ETag": f'"{image.digest}"'}
    headers["Content-Length"] = str(len(image.manifest))
    body = b"" if request.method == "HEAD" else image.manifest
    return Response(body, 200, headers=headers, media_type=image.media_type)


async def put_manifest(request: Request) -> Response:
    svc, name, reference = (
        ctx.services(request),
        ctx.name(request),
        request.path_params["reference"],
    )
    body = await ctx.read_manifest_body(request)
    content_type = request.headers.get("content-type")
    pushed = await ctx.run(
        request, svc.images.put_manifest, ctx.account(request), name, reference, body, content_type
    )
    digest = pushed.saved.image.digest
    headers = {
        **API_VERSION,
        "Location": f"/v2/{name}/manifests/{digest}",
        "Docker-Content-Digest": digest,
    }
    if pushed.manifest.subject is not None:
        headers["OCI-Subject"] = str(pushed.manifest.subject.digest)
    return Response(b"", 201, headers=headers)


async def delete_manifest(request: Request) -> Response:
    svc, reference = ctx.services(request), request.path_params["reference"]
    await ctx.run(request, svc.images.delete, ctx.account(request), ctx.name(request), reference)
    return Response(b"", 202, headers=API_VERSION)
