"""Access log, request ids and request metrics: one pure ASGI middleware around the whole app.

Pure ASGI (not Starlette's BaseHTTPMiddleware), so bodies still stream: it only counts the
bytes of the `receive`d and `send` messages as they pass, and adds `X-Request-Id` to the answer.

    request -> id (the client's X-Request-Id if well-formed, else a new one) -> app -> answer
            -> one log line + metrics (protocol, operation, status, bytes, duration)

The adapters tell it what the path alone cannot, by writing into the ASGI scope (the same dict
travels through the app): SCOPE_ACCOUNT and SCOPE_PRINCIPAL (who called), SCOPE_OPERATION and
SCOPE_REPOSITORY (the ECR API, whose path is always `/`) and SCOPE_AUTH_ERROR (why credentials
were refused; a reason, never a secret). For `/v2/` the operation is the route template and
the repository its `name` parameter, from Starlette's routing.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import re
import sys
import time
from typing import Any, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard import metrics

SCOPE_REQUEST_ID = "dockyard.request_id"
SCOPE_ACCOUNT = "dockyard.account"
SCOPE_PRINCIPAL = "dockyard.principal"
SCOPE_OPERATION = "dockyard.operation"
SCOPE_REPOSITORY = "dockyard.repository"
SCOPE_AUTH_ERROR = "dockyard.auth_error"

_GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")
_UPLOAD_PATH = re.compile(r"/v2/.+/blobs/uploads/[^/]+")
_UPLOAD_TARGET = b".UploadLayerPart"


class Observe:
    def __init__(
        self,
        app: ASGIApp,
        access_log: bool = True,
        log_format: str = "text",
        record_metrics: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.app = app
        self.log = LineWriter(stream or sys.stderr) if access_log else None
        self.format_line = _json_line if log_format == "json" else _text_line
        self.record_metrics = record_metrics
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._bytes: dict[str, tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _Exchange(scope)
        scope[SCOPE_REQUEST_ID] = request.id
        upload = self.record_metrics and _is_upload(scope)
        if upload:
            metrics.UPLOADS_IN_PROGRESS.inc()
        try:
            await self.app(scope, request.counting(receive), request.tagging(send))
        finally:
            if upload:
                metrics.UPLOADS_IN_PROGRESS.dec()
            self._finish(scope, request)

    def _finish(self, scope: Scope, request: _Exchange) -> None:
        seconds = time.perf_counter() - request.started
        protocol, operation = _protocol(scope), _operation(scope, request.status)
        if self.record_metrics:
            self._record(protocol, operation, request, seconds)
        if self.log is not None:
            self.log.write(self.format_line(_fields(scope, request, protocol, operation, seconds)))

    def _record(self, protocol: str, operation: str, request: _Exchange, seconds: float) -> None:
        key = (protocol, operation, request.status)
        children = self._children.get(key)
        if children is None:  # labels() is a locked lookup; keep the children it returns
            children = (
                metrics.REQUESTS.labels(protocol, operation, str(request.status)),
                metrics.LATENCY.labels(protocol, operation),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        received, sent = self._bytes.get(protocol) or self._bytes.setdefault(
            protocol, (metrics.BYTES_RECEIVED.labels(protocol), metrics.BYTES_SENT.labels(protocol))
        )
        if request.bytes_in:
            received.inc(request.bytes_in)
        if request.bytes_out:
            sent.inc(request.bytes_out)
        if SCOPE_AUTH_ERROR in request.scope:
            metrics.AUTH_FAILURES.labels(protocol).inc()


class _Exchange:
    """One request's id, clock and byte counts, filled as its messages pass."""

    __slots__ = ("bytes_in", "bytes_out", "id", "scope", "started", "status", "time")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.id = _request_id(scope)
        self.started, self.time = time.perf_counter(), time.time()
        self.status, self.bytes_in, self.bytes_out = 500, 0, 0  # 500 until an answer starts

    def counting(self, receive: Receive) -> Receive:
        async def counted() -> Message:
            message = await receive()
            self.bytes_in += len(message.get("body", b""))
            return message

        return counted

    def tagging(self, send: Send) -> Send:
        header = (b"x-request-id", self.id.encode())

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            elif message["type"] == "http.response.body":
                self.bytes_out += len(message.get("body", b""))
            await send(message)

        return tagged


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _GOOD_REQUEST_ID.fullmatch(text):
                return text
            break
    return os.urandom(12).hex()


def _is_upload(scope: Scope) -> bool:
    method = scope["method"]
    if method in ("PATCH", "PUT"):
        return _UPLOAD_PATH.fullmatch(scope["path"]) is not None
    if method == "POST" and scope["path"] == "/":
        return any(
            name == b"x-amz-target" and value.endswith(_UPLOAD_TARGET)
            for name, value in scope["headers"]
        )
    return False


def _protocol(scope: Scope) -> str:
    path = scope["path"]
    if path.startswith("/v2"):
        return "oci"
    return "ecr" if path == "/" and scope["method"] == "POST" else "other"


def _operation(scope: Scope, status: int) -> str:
    """A bounded name: the ECR operation, or the method and route template (never the path).
    `/v2/` credentials are checked before routing, so a refused request has no route."""
    named = scope.get(SCOPE_OPERATION)
    if named:
        return named
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template:
        return f"{scope['method']} {template}"
    return "unauthenticated" if status == 401 else "unmatched"


def _repository(scope: Scope) -> str | None:
    named = scope.get(SCOPE_REPOSITORY)
    if named:
        return named
    params = scope.get("path_params")
    return params.get("name") if params else None


def _fields(
    scope: Scope, request: _Exchange, protocol: str, operation: str, seconds: float
) -> dict[str, Any]:
    client = scope.get("client")
    fields = {
        "time": _timestamp(request.time),
        "request_id": request.id,
        "remote": client[0] if client else None,
        "account": scope.get(SCOPE_ACCOUNT),
        "principal": scope.get(SCOPE_PRINCIPAL),
        "protocol": protocol,
        "operation": operation,
        "repository": _repository(scope),
        "status": request.status,
        "bytes_in": request.bytes_in,
        "bytes_out": request.bytes_out,
        "duration_ms": round(seconds * 1000, 3),
    }
    if SCOPE_AUTH_ERROR in scope:
        fields["auth_error"] = scope[SCOPE_AUTH_ERROR]
    return fields


_second: list[Any] = [-1, ""]  # the last whole second formatted, and its text


def _timestamp(seconds: float) -> str:
    whole = int(seconds)
    if whole != _second[0]:  # strftime once a second, not once a request
        _second[:] = [whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))]
    return f"{_second[1]}.{int((seconds - whole) * 1000):03d}Z"


def _json_line(fields: dict[str, Any]) -> str:
    return json.dumps(fields, separators=(",", ":"))


def _text_line(fields: dict[str, Any]) -> str:
    return " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())


def _text_value(value: Any) -> str:
    if value is None:
        return "-"
    text = value if type(value) is str else str(value)
    return json.dumps(text) if (" " in text or '"' in text or not text) else text


class LineWriter:
    """Access log lines to a stream, written in batches: a write and a flush per request
    would cost more than the rest of the access log. Lines wait at most FLUSH_AFTER seconds
    (or MAX_PENDING lines), and whatever waits is written at exit."""

    FLUSH_AFTER = 0.05
    MAX_PENDING = 256

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.pending: list[str] = []
        atexit.register(self.flush)

    def write(self, line: str) -> None:
        self.pending.append(line)
        if len(self.pending) >= self.MAX_PENDING:
            self.flush()
        elif len(self.pending) == 1:
            try:
                asyncio.get_running_loop().call_later(self.FLUSH_AFTER, self.flush)
            except RuntimeError:  # no event loop: nothing would flush later
                self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        lines, self.pending = self.pending, []
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken log must not fail requests
            pass
