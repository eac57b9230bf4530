"""Listings: `/v2/`, `/v2/_catalog`, `/v2/<name>/tags/list`, `/v2/<name>/referrers/<digest>`."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from dockyard.api.oci import context as ctx
from dockyard.api.oci.errors import API_VERSION
from dockyard.domain.errors import ParameterInvalid
from dockyard.domain.manifests import OCI_INDEX
from dockyard.domain.numbers import parse_decimal

MAX_PAGE = 1000
CATALOG_DEFAULT = 100


async def base(request: Request) -> Response:
    return _json(request, {})


async def catalog(request: Request) -> Response:
    svc = ctx.services(request)
    n = _page_size(request)
    n = CATALOG_DEFAULT if n is None else n
    last = _last(request)
    if n == 0:  # a page of nothing: no query, and no last name to continue from
        return _json(request, {"repositories": []})
    names, more = await ctx.run(request, svc.repositories.catalog, ctx.account(request), last, n)
    response = _json(request, {"repositories": names})
    if more:
        _link(response, "/v2/_catalog", n, names[-1])
    return response


async def tags_list(request: Request) -> Response:
    svc, name = ctx.services(request), ctx.name(request)
    n = _page_size(request)
    last = _last(request)
    tags, more = await ctx.run(request, svc.images.list_tags, ctx.account(request), name, last, n)
    response = _json(request, {"name": name, "tags": tags})
    if more and n:
        _link(response, f"/v2/{name}/tags/list", n, tags[-1])
    return response


async def referrers(request: Request) -> Response:
    svc = ctx.services(request)
    artifact_type = request.query_params.get("artifactType")
    found = await ctx.run(
        request,
        svc.images.referrers,
        ctx.account(request),
        ctx.name(request),
        request.path_params["digest"],
        artifact_type,
    )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found}
    response = _json(request, index, media_type=OCI_INDEX)
    if artifact_type:
        response.headers["OCI-Filters-Applied"] = "artifactType"
    return response


def _page_size(request: Request) -> int | None:
    text = request.query_params.get("n")
    if text is None:
        return None
    n = parse_decimal(text)
    if n is None:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ParameterInvalid(
            f"Invalid parameter at 'maxResults' failed to satisfy constraint: "
            f"'Member must be a whole number' (got {shown!r})"
        )
    if n > MAX_PAGE:
        raise ParameterInvalid(
            "Invalid parameter at 'maxResults' failed to satisfy constraint: "
            f"'Member must have value less than or equal to {MAX_PAGE}'"
        )
    return n


def _last(request: Request) -> str | None:
    last = request.query_params.get("last")
    if last is not None and "\x00" in last:  # no name or tag holds one; PostgreSQL refuses it
        raise ParameterInvalid(
            "Invalid parameter at 'last' failed to satisfy constraint: "
            "'Member must not contain NUL characters'"
        )
    return last


def _link(response: Response, path: str, n: int, last: str) -> None:
    response.headers["Link"] = f'<{path}?{urlencode({"n": n, "last": last})}>; rel="next"'


def _json(request: Request, document: object, media_type: str = "application/json") -> Response:
    body = json.dumps(document).encode()
    headers = {**API_VERSION, "Content-Length": str(len(body))}
    return Response(
        b"" if request.method == "HEAD" else body, 200, headers=headers, media_type=media_type
    )
