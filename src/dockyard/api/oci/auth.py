"""HTTP Basic authentication for `/v2/`, as ECR does it: the password is a registry token; then
the access check of the request's ECR action (services/access.py).

A pure ASGI middleware (no body buffering, so uploads and downloads still stream). It puts the
caller's principal and the registry the request addresses into the scope for the handlers
(`dockyard.account`: the registry, which is the caller's own unless the Host or the token names
another); other paths pass untouched. The registry a request addresses, first found of:

    Host `<12-digit account>.<anything>`   (deployments that route such names, as ECR's hosts)
    the token's registry                   (GetAuthorizationToken(registryIds=[...]))
    the caller's own account
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.api.observe import SCOPE_ACCOUNT, SCOPE_AUTH_ERROR, SCOPE_PRINCIPAL
from dockyard.api.oci.errors import handle_domain_error
from dockyard.domain.actions import PathKind, oci_action
from dockyard.domain.errors import AccessDenied, NotAuthorized
from dockyard.services.access import AccessControl
from dockyard.services.audit import acting_as
from dockyard.services.auth import AuthService, Caller
from dockyard.services.placement import Placement
from dockyard.services.replication_origin import REPLICATION_HEADER, replicating

_BLOB = re.compile(r"/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)")
_ACCOUNT_HOST = re.compile(r"(?P<account>[0-9]{12})\..+")
# The route table's shapes (routes.py), most specific first; `name` is greedy as `{name:path}`.
_PATHS = (
    (re.compile(r"/v2/_catalog"), PathKind.CATALOG),
    (re.compile(r"/v2/(?P<name>.+)/blobs/uploads(/[^/]*)?"), PathKind.UPLOADS),
    (re.compile(r"/v2/(?P<name>.+)/blobs/[^/]+"), PathKind.BLOBS),
    (re.compile(r"/v2/(?P<name>.+)/manifests/[^/]+"), PathKind.MANIFESTS),
    (re.compile(r"/v2/(?P<name>.+)/tags/list"), PathKind.TAGS),
    (re.compile(r"/v2/(?P<name>.+)/referrers/[^/]+"), PathKind.REFERRERS),
)


class RegistryAuth:
    def __init__(
        self,
        app: ASGIApp,
        auth: AuthService,
        access: AccessControl | None = None,
        placement: Placement | None = None,
    ) -> None:
        self.app, self.auth, self.access = app, auth, access
        self.placement = placement or Placement()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v2"):
            await self.app(scope, receive, send)
            return
        try:
            caller, presigned = self._caller(scope)
        except NotAuthorized as exc:
            if "authorization" in Headers(scope=scope):  # no credentials is the usual challenge
                scope[SCOPE_AUTH_ERROR] = exc.message
            await _challenge(scope, send)
            return
        registry = _registry(scope, caller)
        scope[SCOPE_ACCOUNT] = registry  # the registry addressed (api/oci/context.py)
        scope[SCOPE_PRINCIPAL] = caller.principal
        with acting_as(caller.account_id, caller.principal), _origin(scope):
            try:
                if not presigned:
                    await self._authorize(scope, caller, registry)
            except AccessDenied as exc:
                response = await handle_domain_error(Request(scope, receive), exc)
                await response(scope, receive, send)
                return
            await self.app(scope, receive, send)

    def _caller(self, scope: Scope) -> tuple[Caller, bool]:
        """Who calls, and whether by a presigned blob URL (authorized when it was issued)."""
        # Latin-1 maps any byte; a signature that is not ASCII then fails as a forgery.
        query = scope.get("query_string", b"").decode("latin-1")
        signature = parse_qs(query).get("X-Dockyard-Signature")
        blob = _BLOB.fullmatch(scope["path"])
        if signature and blob and scope["method"] in ("GET", "HEAD"):
            caller = self.auth.caller_from_signed_blob(blob["name"], blob["digest"], signature[0])
            return caller, True
        return self.auth.caller_from_basic(Headers(scope=scope).get("authorization")), False

    async def _authorize(self, scope: Scope, caller: Caller, registry: str) -> None:
        if self.access is None:
            return
        for pattern, kind in _PATHS:
            found = pattern.fullmatch(scope["path"])
            if found:
                action = oci_action(scope["method"], kind)
                if action is not None:
                    name = found.groupdict().get("name")
                    await self.placement.run(self.access.authorize, caller, registry, name, action)
                if kind is PathKind.UPLOADS and scope["method"] == "POST":
                    await self._authorize_mount_source(scope, caller, registry)
                return

    async def _authorize_mount_source(self, scope: Scope, caller: Caller, registry: str) -> None:
        """A cross-repository mount reads the `from` repository's blob: a download there."""
        query = parse_qs(scope.get("query_string", b"").decode())
        if "mount" in query and query.get("from"):
            assert self.access is not None
            await self.placement.run(
                self.access.authorize,
                caller,
                registry,
                query["from"][0],
                oci_action("GET", PathKind.BLOBS),
            )


def _registry(scope: Scope, caller: Caller) -> str:
    host = Headers(scope=scope).get("host", "")
    named = _ACCOUNT_HOST.fullmatch(host)
    if named:
        return named["account"]
    return caller.registry_id or caller.account_id


async def _challenge(scope: Scope, send: Send) -> None:
    host = Headers(scope=scope).get("host", "localhost")
    scheme = scope.get("scheme", "http")
    body = b"" if scope["method"] == "HEAD" else b"Not Authorized\n"
    headers = [
        (
            b"www-authenticate",
            f'Basic realm="{scheme}://{host}/",service="ecr.amazonaws.com"'.encode(),
        ),
        (b"docker-distribution-api-version", b"registry/2.0"),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(b"Not Authorized\n")).encode()),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _origin(scope: Scope) -> contextlib.AbstractContextManager[None]:
    """A replicating Dockyard's writes (its header) are replication's here: they create
    repositories through REPLICATION templates and are not replicated further."""
    origin = Headers(scope=scope).get(REPLICATION_HEADER)
    return replicating(origin) if origin else contextlib.nullcontext()
