"""`POST /` with `X-Amz-Target`: the AWS JSON 1.1 front door of the ECR API.

    body -> SigV4 check -> JSON -> operation table -> model validation -> handler -> model
    serialization -> 200, or a `{"__type", "message"}` error (400; 500 only for ServerException)
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dockyard.api.ecr import model, sigv4
from dockyard.api.ecr.context import Call
from dockyard.api.ecr.errors import error_body
from dockyard.api.ecr.operations import OPERATIONS
from dockyard.api.ecr.serialize import serialize_output
from dockyard.api.ecr.validation import validate_input
from dockyard.domain.errors import DockyardError, NotAuthorized
from dockyard.services.auth import Caller
from dockyard.services.registry import Services

log = logging.getLogger("dockyard.ecr")
CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_BODY = 32 * 1024 * 1024  # a 20 MiB UploadLayerPart, base64-encoded, plus room
SERVICE_PREFIX = model.target_prefix() + "."


class AwsError(Exception):
    def __init__(self, type_name: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.type_name, self.message, self.status = type_name, message, status


async def handle(request: Request) -> Response:
    request_id = str(uuid.uuid4())
    operation, echo = None, {}
    try:
        operation = _operation(request)
        body = await _body(request)
        caller = await run_in_threadpool(_authenticate, request, body)
        params = _params(body)
        echo = _echo(params, caller)
        result = await _run(request, operation, caller, params)
        return _json(200, serialize_output(operation, result), request_id)
    except AwsError as exc:
        return _json(exc.status, {"__type": exc.type_name, "message": exc.message}, request_id)
    except DockyardError as exc:
        return _json(400, error_body(operation, exc, echo), request_id)
    except Exception:
        log.exception("ECR %s failed", operation)
        return _json(500, {"__type": "ServerException", "message": "internal error"}, request_id)


def _operation(request: Request) -> str:
    target = request.headers.get("x-amz-target", "")
    name = target[len(SERVICE_PREFIX):] if target.startswith(SERVICE_PREFIX) else ""
    if name not in OPERATIONS:
        what = f"operation {name} is not implemented by Dockyard" if name else "unknown target"
        raise AwsError("UnknownOperationException", f"{what}: {target!r}")
    return name


async def _body(request: Request) -> bytes:
    parts, held = [], 0
    async for chunk in request.stream():
        held += len(chunk)
        if held > MAX_BODY:
            raise AwsError("SerializationException", "request body too large", 413)
        parts.append(chunk)
    return b"".join(parts)


def _params(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except ValueError:
        raise AwsError("SerializationException", "request body is not valid JSON") from None


def _echo(params: Any, caller: Caller) -> dict[str, object]:
    """Request members some error shapes repeat back to the client."""
    found = dict(params) if isinstance(params, dict) else {}
    keep = {k: found[k] for k in ("repositoryName", "uploadId") if isinstance(found.get(k), str)}
    return {"registryId": caller.account_id, **keep}


def _authenticate(request: Request, body: bytes) -> Caller:
    auth = _services(request).auth
    try:
        key_id = sigv4.verify(request.method, request.scope.get("raw_path", b"/"),
                              request.scope.get("query_string", b""), request.headers, body,
                              auth.secret_for, auth.clock.now(), service="ecr",
                              check_signature=not auth.accept_any)
    except sigv4.SignatureError as exc:
        raise AwsError(exc.type_name, exc.message, exc.status) from None
    try:
        return auth.caller_for_key(key_id)
    except NotAuthorized as exc:
        raise AwsError("UnrecognizedClientException", exc.message) from None


async def _run(request: Request, operation: str, caller: Caller, raw: Any) -> Any:
    params = validate_input(operation, raw)
    call = Call(_services(request), caller.account_id, caller.principal,
                request.app.state.region, _base_url(request))
    handler = OPERATIONS[operation]
    if inspect.iscoroutinefunction(handler):
        return await handler(call, params)
    return await run_in_threadpool(handler, call, params)


def _services(request: Request) -> Services:
    return request.app.state.services


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def _json(status: int, document: dict[str, Any], request_id: str) -> Response:
    headers = {"x-amzn-RequestId": request_id}
    return Response(json.dumps(document), status, headers=headers, media_type=CONTENT_TYPE)
