"""HTTP Basic authentication for `/v2/`, as ECR does it: the password is a registry token.

A pure ASGI middleware (no body buffering, so uploads and downloads still stream). It puts the
caller's account and principal into the scope for the handlers; other paths pass untouched.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.api.observe import SCOPE_ACCOUNT, SCOPE_AUTH_ERROR, SCOPE_PRINCIPAL
from dockyard.domain.errors import NotAuthorized
from dockyard.services.audit import acting_as
from dockyard.services.auth import AuthService, Caller

_BLOB = re.compile(r"/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)")


class RegistryAuth:
    def __init__(self, app: ASGIApp, auth: AuthService) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v2"):
            await self.app(scope, receive, send)
            return
        try:
            caller = self._caller(scope)
        except NotAuthorized as exc:
            if "authorization" in Headers(scope=scope):  # no credentials is the usual challenge
                scope[SCOPE_AUTH_ERROR] = exc.message
            await _challenge(scope, send)
            return
        scope[SCOPE_ACCOUNT] = caller.account_id
        scope[SCOPE_PRINCIPAL] = caller.principal
        with acting_as(caller.account_id, caller.principal):  # who the audit log names
            await self.app(scope, receive, send)

    def _caller(self, scope: Scope) -> Caller:
        # Latin-1 maps any byte; a signature that is not ASCII then fails as a forgery.
        query = scope.get("query_string", b"").decode("latin-1")
        signature = parse_qs(query).get("X-Dockyard-Signature")
        blob = _BLOB.fullmatch(scope["path"])
        if signature and blob and scope["method"] in ("GET", "HEAD"):
            return self.auth.caller_from_signed_blob(blob["name"], blob["digest"], signature[0])
        return self.auth.caller_from_basic(Headers(scope=scope).get("authorization"))


async def _challenge(scope: Scope, send: Send) -> None:
    host = Headers(scope=scope).get("host", "localhost")
    scheme = scope.get("scheme", "http")
    body = b"" if scope["method"] == "HEAD" else b"Not Authorized\n"
    headers = [
        (b"www-authenticate", f'Basic realm="{scheme}://{host}/",service="ecr.amazonaws.com"'.encode()),
        (b"docker-distribution-api-version", b"registry/2.0"),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(b"Not Authorized\n")).encode()),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
