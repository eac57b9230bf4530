"""`/v2/<name>/manifests/<reference>`: GET, HEAD, PUT, DELETE."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.api.oci import context as ctx
from dockyard.api.oci.errors import API_VERSION
from dockyard.domain.digests import is_digest
from dockyard.domain.errors import ImageNotFound
from dockyard.domain.manifests import MANIFEST_TYPES
from dockyard.domain.models import Image

SCHEMA1 = {
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
}


async def get_manifest(request: Request) -> Response:
    svc, reference = ctx.services(request), request.path_params["reference"]
    account, name = ctx.account(request), ctx.name(request)
    if request.method == "HEAD":
        image = await ctx.quick_call(request, svc.images.find, account, name, reference)
    else:
        image = await ctx.quick_call(request, svc.images.pull, account, name, reference,
                                     ctx.principal(request))
    _negotiate(request, image, reference)
    assert image.manifest is not None
    headers = {**API_VERSION, "Docker-Content-Digest": image.digest, "ETag": f'"{image.digest}"'}
    headers["Content-Length"] = str(len(image.manifest))
    body = b"" if request.method == "HEAD" else image.manifest
    return Response(body, 200, headers=headers, media_type=image.media_type)


def _negotiate(request: Request, image: Image, reference: str) -> None:
    """Refuse a tag fetch when the client lists manifest types and the stored one is not among them.

    Dockyard never converts manifests; a pull by digest always gets the stored bytes.
    """
    if is_digest(reference):
        return
    accepted = {part.split(";")[0].strip() for part in request.headers.getlist("accept")
                for part in part.split(",")}
    listed = accepted & (MANIFEST_TYPES | SCHEMA1)
    if listed and "*/*" not in accepted and image.media_type not in accepted:
        raise ImageNotFound(
            f"manifest of type {image.media_type} is not among the accepted types "
            f"{sorted(listed)}"
        )


async def put_manifest(request: Request) -> Response:
    svc, name, reference = ctx.services(request), ctx.name(request), request.path_params["reference"]
    body = await ctx.read_manifest_body(request)
    content_type = request.headers.get("content-type")
    pushed = await ctx.quick_call(request, svc.images.put_manifest, ctx.account(request), name,
                                  reference, body, content_type)
    digest = pushed.saved.image.digest
    headers = {**API_VERSION, "Location": f"/v2/{name}/manifests/{digest}",
               "Docker-Content-Digest": digest}
    if pushed.manifest.subject is not None:
        headers["OCI-Subject"] = str(pushed.manifest.subject.digest)
    return Response(b"", 201, headers=headers)


async def delete_manifest(request: Request) -> Response:
    svc, reference = ctx.services(request), request.path_params["reference"]
    await ctx.quick_call(request, svc.images.delete, ctx.account(request), ctx.name(request),
                         reference)
    return Response(b"", 202, headers=API_VERSION)
