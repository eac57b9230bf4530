"""`POST /` with `X-Amz-Target`: the AWS JSON 1.1 front door of the ECR API.

    body -> SigV4 check -> JSON -> operation table -> model validation -> handler -> model
    serialization -> 200, or a `{"__type", "message"}` error (400; 500 only for ServerException)

The event loop reads the body and writes the answer; everything between runs in one worker
thread call (`_answer`), or on the loop itself for a bounded call on the embedded default. Each hop to the thread pool and back costs the loop a wake-up, which
was a fifth of a small call's CPU, so a call makes one. The async handlers (layer uploads, which
await the blob store) get the SigV4 check in a thread and then run on the loop (`_answer_async`).
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from dockyard.api.ecr import model, sigv4
from dockyard.api.ecr.context import Call, access_targets
from dockyard.api.ecr.errors import error_body
from dockyard.api.ecr.operations import OPERATIONS
from dockyard.api.ecr.serialize import serialize_output
from dockyard.api.ecr.validation import validate_input
from dockyard.domain.actions import ecr_action
from dockyard.domain.errors import DockyardError, NotAuthorized
from dockyard.services.audit import acting_as
from dockyard.services.auth import Caller
from dockyard.services.registry import Services

log = logging.getLogger("dockyard.ecr")
CONTENT_TYPE = "application/x-amz-json-1.1"
CONTENT_TYPE_HEADER = CONTENT_TYPE.encode()
MAX_BODY = 32 * 1024 * 1024  # a 20 MiB UploadLayerPart, base64-encoded, plus room
SERVICE_PREFIX = model.target_prefix() + "."

Answer = tuple[int, bytes]  # HTTP status, JSON body

#: Calls whose work is bounded by their input (one image, at most 100 ids): on the embedded
#: default they may run on the event loop (services/metadata_calls.py).
#: Listings and repository-wide changes (DeleteRepository with force) keep the thread.
BOUNDED_OPERATIONS = frozenset({
    "PutImage", "BatchGetImage", "BatchCheckLayerAvailability", "GetDownloadUrlForLayer",
    "GetAuthorizationToken",
})


class AwsError(Exception):
    def __init__(self, type_name: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.type_name, self.message, self.status = type_name, message, status


class Endpoint:
    """The ASGI app of `POST /`.

    A plain ASGI callable rather than a Starlette function endpoint, whose Request/Response
    wrapping cost ~40 µs of CPU a call, a tenth of what a small call costs inside the app.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body = await _answer_request(Request(scope, receive))
        headers = [
            (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
            (b"content-type", CONTENT_TYPE_HEADER),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


handle = Endpoint()


async def _answer_request(request: Request) -> Answer:
    try:
        operation = _operation(request)
        body = await _body(request)
    except AwsError as exc:
        return _failure(None, exc, {})
    if inspect.iscoroutinefunction(OPERATIONS[operation]):
        return await _answer_async(request, operation, body)
    if operation in BOUNDED_OPERATIONS:
        return await request.app.state.services.calls.run(_answer, request, operation, body)
    return await run_in_threadpool(_answer, request, operation, body)


def _answer(request: Request, operation: str, body: bytes) -> Answer:
    """The whole call but the HTTP I/O, in a worker thread."""
    echo: dict[str, object] = {}
    try:
        caller = _authenticate(request, body)
        params = _params(body)
        echo = _echo(params, caller)
        valid = validate_input(operation, params)
        with acting_as(caller.account_id, caller.principal):  # who the audit log names
            _authorize(request, operation, valid, caller)
            result = OPERATIONS[operation](_call(request, caller), valid)
        return 200, _dumps(serialize_output(operation, result))
    except Exception as exc:  # noqa: BLE001 (_failure logs all but API errors)
        return _failure(operation, exc, echo)


async def _answer_async(request: Request, operation: str, body: bytes) -> Answer:
    echo: dict[str, object] = {}
    try:
        caller, params, valid = await run_in_threadpool(_prepare, request, body, operation)
        echo = _echo(params, caller)
        handler = OPERATIONS[operation]
        with acting_as(caller.account_id, caller.principal):
            result = await handler(_call(request, caller), valid)
        return 200, _dumps(serialize_output(operation, result))
    except Exception as exc:  # noqa: BLE001 (_failure logs all but API errors)
        return _failure(operation, exc, echo)


def _failure(operation: str | None, exc: Exception, echo: dict[str, object]) -> Answer:
    """The error answer for `exc`; called from the `except` block that caught it."""
    if isinstance(exc, AwsError):
        return exc.status, _dumps({"__type": exc.type_name, "message": exc.message})
    if isinstance(exc, DockyardError):
        return 400, _dumps(error_body(operation, exc, echo))
    log.exception("ECR %s failed", operation)
    return 500, _dumps({"__type": "ServerException", "message": "internal error"})


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
                              auth.secret_for, auth.wall_clock.now(), service="ecr",
                              check_signature=not auth.accept_any)
    except sigv4.SignatureError as exc:
        raise AwsError(exc.type_name, exc.message, exc.status) from None
    try:
        return auth.caller_for_key(key_id)
    except NotAuthorized as exc:
        raise AwsError("UnrecognizedClientException", exc.message) from None


def _prepare(request: Request, body: bytes, operation: str) -> tuple[Caller, Any, dict[str, Any]]:
    """Who calls, the parameters and their validated form once the caller may make the call:
    the blocking part of an async operation, in one thread hop."""
    caller = _authenticate(request, body)
    params = _params(body)
    valid = validate_input(operation, params)
    with acting_as(caller.account_id, caller.principal):
        _authorize(request, operation, valid, caller)
    return caller, params, valid


def _authorize(request: Request, operation: str, params: dict[str, Any], caller: Caller) -> None:
    """The access check of the call (services/access.py), for each repository it names."""
    account, names = access_targets(operation, params, caller.account_id)
    for name in names:
        _services(request).access.authorize(caller, account, name, ecr_action(operation))


def _call(request: Request, caller: Caller) -> Call:
    return Call(_services(request), caller.account_id, caller.principal,
                request.app.state.region, _base_url(request))


def _services(request: Request) -> Services:
    return request.app.state.services


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode("utf-8")
