"""`POST /` with `X-Amz-Target`: the AWS JSON 1.1 front door of the ECR API.

    target -> Authorization header (form, scope, time, signed headers, known key) -> body (at
    most MAX_BODY of its operation) -> SigV4 signature -> JSON -> operation table -> model
    validation -> handler -> model serialization -> 200, or a `{"__type", "message"}` error
    (4xx; 500 only for ServerException)

Nothing of the body is read until the header half of the SigV4 check passed, so a caller that
cannot be authentic costs no memory: it is answered at once and its connection closed, unread
body and all. A client that goes away mid-body is logged (info) and forgotten.

The event loop reads the body and writes the answer; everything between is one blocking call
(`_answer`), placed where its operation's handler would run (services/placement.py: a worker
thread, or the loop for a `@bounded` handler on the embedded default). Each hop to the thread
pool and back costs the loop a wake-up, which was a fifth of a small call's CPU, so a call makes
one. The async handlers (layer uploads, which await the blob store) get the SigV4 check that
way and then run on the loop (`_answer_async`).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import uuid
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope, Send

from dockyard.api.ecr import model, sigv4
from dockyard.api.ecr.context import Call, access_targets
from dockyard.api.ecr.errors import error_body
from dockyard.api.ecr.operations import OPERATIONS
from dockyard.api.ecr.serialize import serialize_output
from dockyard.api.ecr.validation import validate_input
from dockyard.api.observe import (
    SCOPE_ACCOUNT,
    SCOPE_AUTH_ERROR,
    SCOPE_OPERATION,
    SCOPE_PRINCIPAL,
    SCOPE_REPOSITORY,
    SCOPE_REQUEST_ID,
)
from dockyard.domain.actions import ecr_action
from dockyard.domain.errors import DockyardError, NotAuthorized, ParameterInvalid
from dockyard.services.audit import acting_as
from dockyard.services.auth import Caller
from dockyard.services.composition import Services

log = logging.getLogger("dockyard.ecr")
CONTENT_TYPE = "application/x-amz-json-1.1"
CONTENT_TYPE_HEADER = CONTENT_TYPE.encode()
#: Largest body per operation. UploadLayerPart: the model's 20 MiB part, base64-encoded (26.7 MiB),
#: plus room for the envelope. Any other call: a 4 MiB PutImage manifest even if JSON escaping
#: tripled it (non-ASCII as \uXXXX), with room to spare; AWS's own limits are smaller.
MAX_BODY = {"UploadLayerPart": 28 * 1024 * 1024}
MAX_OTHER_BODY = 16 * 1024 * 1024

Answer = tuple[int, bytes]  # HTTP status, JSON body
_LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class AwsError(Exception):
    def __init__(self, type_name: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.type_name, self.message, self.status = type_name, message, status


class Endpoint:
    """The ASGI app of `POST /`.

    A plain ASGI callable rather than a Starlette function endpoint, whose Request/Response
    wrapping is a noticeable share of what a small call costs inside the app (measured:
    benchmarks/README.md, ecr_bench.py).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, body, close = await _answer_request(Request(scope, receive))
        except ClientDisconnect:
            log.info("ECR call abandoned: the client went away while sending its request")
            return
        request_id = scope.get(SCOPE_REQUEST_ID) or str(uuid.uuid4())
        headers = [
            (b"x-amzn-requestid", request_id.encode()),
            (b"content-type", CONTENT_TYPE_HEADER),
            (b"content-length", str(len(body)).encode()),
        ]
        if close:  # the body was not read: the connection cannot carry another request
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


handle = Endpoint()


async def _answer_request(request: Request) -> tuple[int, bytes, bool]:
    """The answer, and whether the connection must close because the body was left unread."""
    try:
        operation = _operation(request)
        request.scope[SCOPE_OPERATION] = operation
        presented = _check_authorization(request)
        _check_declared_length(request, operation)
    except AwsError as exc:
        return (*_failure(None, exc, {}), _may_have_body(request))
    try:
        body = await _body(request, operation)
    except AwsError as exc:
        return (*_failure(None, exc, {}), True)
    return (*await _answer_authentic(request, operation, presented, body), False)


async def _answer_authentic(
    request: Request, operation: str, presented: sigv4.Presented, body: bytes
) -> Answer:
    handler = OPERATIONS[operation]
    if inspect.iscoroutinefunction(handler):
        return await _answer_async(request, operation, presented, body)
    placement = _services(request).placement
    return await placement.run_like(handler, _answer, request, operation, presented, body)


def _answer(request: Request, operation: str, presented: sigv4.Presented, body: bytes) -> Answer:
    """The whole call but the HTTP I/O (blocking)."""
    echo: dict[str, object] = {}
    try:
        caller = _authenticate(request, presented, body)
        params = _params(body)
        echo = _echo(params, caller)
        _tell_access_log(request, echo)
        valid = validate_input(operation, params)
        with acting_as(caller.account_id, caller.principal):  # who the audit log names
            _authorize(request, operation, valid, caller)
            result = OPERATIONS[operation](_call(request, caller), valid)
        return 200, _dumps(serialize_output(operation, result))
    except Exception as exc:  # noqa: BLE001 (_failure logs all but API errors)
        return _failure(operation, exc, echo)


async def _answer_async(
    request: Request, operation: str, presented: sigv4.Presented, body: bytes
) -> Answer:
    echo: dict[str, object] = {}
    try:
        caller, params, valid = await _services(request).placement.run(
            _prepare, request, presented, body, operation
        )
        echo = _echo(params, caller)
        _tell_access_log(request, echo)
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


@functools.cache
def _service_prefix() -> str:
    """`AmazonEC2ContainerRegistry_V20150921.`; on first use, so botocore's model loads with the
    first ECR call rather than at every server's start."""
    return model.target_prefix() + "."


def _operation(request: Request) -> str:
    target = request.headers.get("x-amz-target", "")
    prefix = _service_prefix()
    name = target[len(prefix) :] if target.startswith(prefix) else ""
    if name not in OPERATIONS:
        what = f"operation {name} is not implemented by Dockyard" if name else "unknown target"
        raise AwsError("UnknownOperationException", f"{what}: {target!r}")
    return name


def _may_have_body(request: Request) -> bool:
    return request.headers.get("content-length", "") != "0"


def _check_declared_length(request: Request, operation: str) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _max_body(operation):
        raise _too_large(operation)


async def _body(request: Request, operation: str) -> bytes:
    parts, held, limit = [], 0, _max_body(operation)
    async for chunk in request.stream():
        held += len(chunk)
        if held > limit:
            raise _too_large(operation)
        parts.append(chunk)
    return b"".join(parts)


def _max_body(operation: str) -> int:
    return MAX_BODY.get(operation, MAX_OTHER_BODY)


def _too_large(operation: str) -> AwsError:
    return AwsError(
        "SerializationException",
        f"request body too large: {operation} takes at most {_max_body(operation)} bytes",
        413,
    )


def _params(body: bytes) -> Any:
    try:
        params = json.loads(body or b"{}")
    except ValueError:
        raise AwsError("SerializationException", "request body is not valid JSON") from None
    except RecursionError:  # valid JSON nested deeper than the parser's stack; no input shape is
        raise ParameterInvalid("The request body nests JSON too deeply.") from None
    if _LONE_SURROGATE_ESCAPE.search(body):
        _refuse_lone_surrogates(params)
    return params


def _refuse_lone_surrogates(params: Any) -> None:
    """A `\\ud800` escape alone decodes to a string no database or UTF-8 encoder takes.

    Only bodies that contain such an escape pay for this re-encoding (a pair is fine).
    """
    try:
        json.dumps(params, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ParameterInvalid(
            "The request body holds a string that is not valid Unicode "
            "(an unpaired surrogate escape)."
        ) from None


def _echo(params: Any, caller: Caller) -> dict[str, object]:
    """Request members some error shapes repeat back to the client."""
    found = dict(params) if isinstance(params, dict) else {}
    keep = {k: found[k] for k in ("repositoryName", "uploadId") if isinstance(found.get(k), str)}
    return {"registryId": caller.account_id, **keep}


def _check_authorization(request: Request) -> sigv4.Presented:
    """The half of the SigV4 check that needs no body (cheap: no I/O, so on the loop)."""
    auth = _services(request).auth
    try:
        return sigv4.check_authorization(
            request.headers,
            auth.secret_for,
            auth.wall_clock.now(),
            service="ecr",
            check_signature=not auth.accept_any,
        )
    except sigv4.SignatureError as exc:
        request.scope[SCOPE_AUTH_ERROR] = exc.message
        raise AwsError(exc.type_name, exc.message, exc.status) from None


def _authenticate(request: Request, presented: sigv4.Presented, body: bytes) -> Caller:
    auth = _services(request).auth
    try:
        key_id = sigv4.check_body_signature(
            presented,
            request.method,
            request.scope.get("raw_path", b"/"),
            request.scope.get("query_string", b""),
            body,
        )
    except sigv4.SignatureError as exc:
        request.scope[SCOPE_AUTH_ERROR] = exc.message
        raise AwsError(exc.type_name, exc.message, exc.status) from None
    try:
        caller = auth.caller_for_key(key_id)
    except NotAuthorized as exc:
        request.scope[SCOPE_AUTH_ERROR] = f"unknown access key {key_id}"
        raise AwsError("UnrecognizedClientException", exc.message) from None
    request.scope[SCOPE_ACCOUNT], request.scope[SCOPE_PRINCIPAL] = (
        caller.account_id,
        caller.principal,
    )
    return caller


def _tell_access_log(request: Request, echo: dict[str, object]) -> None:
    if "repositoryName" in echo:
        request.scope[SCOPE_REPOSITORY] = echo["repositoryName"]


def _prepare(
    request: Request, presented: sigv4.Presented, body: bytes, operation: str
) -> tuple[Caller, Any, dict[str, Any]]:
    """Who calls, the parameters and their validated form once the caller may make the call:
    the blocking part of an async operation, in one thread hop."""
    caller = _authenticate(request, presented, body)
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
    return Call(
        _services(request),
        caller.account_id,
        caller.principal,
        request.app.state.region,
        _base_url(request),
    )


def _services(request: Request) -> Services:
    return request.app.state.services


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode("utf-8")
