"""Client-side helpers for the ECR end-to-end suite: keys, boto3 clients, raw SigV4, pushes.

Pieces, each usable on its own::

    AccessKey / write_auth_file   the `--auth-file` TOML the server is started with
    ecr_client                    a boto3 ECR client on the server, retries off, checked by
    check_after_call              a botocore `after-call.ecr` hook: every error `__type` must be
                                  declared by the operation in botocore's model (or be a SigV4
                                  authentication error), statuses 400/403/500 as AWS uses them
    signed_request / send_raw     hand-built AWS JSON 1.1 requests signed at any time, for the
                                  signature tests boto3 cannot express (old dates, edited bodies)
    push_v2 / push_ecr            one image pushed through `/v2/` or through the ECR layer
                                  operations + PutImage
    variants / small_image        small, distinct, reproducible images (shared blobs where useful)

Nothing here imports the server; these are the client's bytes and the client's expectations.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import httpx
import pytest
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support import ociapi
from tests.support.images import Image, Index, Layer, Platform, build_image, build_layer

__all__ = [
    "JSON_TYPE",
    "REGION",
    "SIGV4_ERRORS",
    "TARGET_PREFIX",
    "AccessKey",
    "check_after_call",
    "ecr_client",
    "ecr_error",
    "error_code",
    "image_size",
    "push_ecr",
    "push_many_v2",
    "push_v2",
    "registry_token",
    "response_problems",
    "send_raw",
    "signed_request",
    "small_image",
    "upload_layer_ecr",
    "v2_client",
    "variants",
    "wait_for",
    "write_auth_file",
]

REGION = "us-east-1"
TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921"
JSON_TYPE = "application/x-amz-json-1.1"

# What any operation may answer besides its modeled errors: the request-authentication failures
# AWS JSON services send before an operation runs (spec 2.4).
SIGV4_ERRORS = frozenset(
    {
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
        "ExpiredTokenException",
        # AWS's common errors (every API reference lists them): IAM authorization refusals.
        "AccessDeniedException",
    }
)


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class AccessKey:
    """One access key of one account; ``user`` names an IAM user, None is the account root."""

    account_id: str
    access_key_id: str
    secret_access_key: str
    user: str | None = None

    @property
    def principal_arn(self) -> str:
        if self.user:
            return f"arn:aws:iam::{self.account_id}:user/{self.user}"
        return f"arn:aws:iam::{self.account_id}:root"


def write_auth_file(path: Path, keys: Iterable[AccessKey]) -> Path:
    """The server's `--auth-file`: `[[accounts]]` with `[[accounts.keys]]` each.

    A key with a ``user`` also gets `principal_arn = "arn:aws:iam::<account>:user/<name>"`, the
    IAM principal it stands for (a key without one is the account root).
    """
    by_account: dict[str, list[AccessKey]] = {}
    for key in keys:
        by_account.setdefault(key.account_id, []).append(key)
    lines: list[str] = []
    for account_id, account_keys in by_account.items():
        lines += ["[[accounts]]", f'id = "{account_id}"', ""]
        for key in account_keys:
            lines += [
                "[[accounts.keys]]",
                f'access_key_id = "{key.access_key_id}"',
                f'secret_access_key = "{key.secret_access_key}"',
            ]
            if key.user:
                lines.append(f'principal_arn = "{key.principal_arn}"')
            lines.append("")
    path.write_text("\n".join(lines))
    return path


# --------------------------------------------------------------------------- conformance


@cache
def _service_model() -> Any:
    return botocore.session.get_session().get_service_model("ecr")


def error_code(type_value: str) -> str:
    """`__type` as botocore reads it: drop a `namespace#` prefix and a `:suffix`."""
    return type_value.split("#")[-1].split(":")[0]


def response_problems(
    operation: str, status: int, headers: Mapping[str, str], body: bytes
) -> list[str]:
    """Why an ECR response breaks the wire contract (an empty list when it does not).

    Errors: a JSON object with `__type` declared by the operation in botocore's model (or a
    SigV4 error) and a non-empty `message`; status 500 only for `ServerException`, 403 for
    `MissingAuthenticationTokenException`, 400 otherwise. Every response has a request id.
    """
    problems = []
    lowered = {k.lower(): v for k, v in headers.items()}
    if "x-amzn-requestid" not in lowered:
        problems.append("no x-amzn-RequestId header")
    if status >= 500:
        problems.append(f"HTTP {status}: the server must never fail with a 5xx")
    try:
        document = json.loads(body) if body else None
    except ValueError:
        return [*problems, f"body is not JSON: {body[:300]!r}"]
    if not isinstance(document, dict):
        return [*problems, f"body is not a JSON object: {body[:300]!r}"]
    if status == 200:
        return problems
    if "__type" not in document:
        return [*problems, f"HTTP {status} without __type: {document}"]
    code = error_code(document["__type"])
    declared = {shape.name for shape in _service_model().operation_model(operation).error_shapes}
    if code not in declared | SIGV4_ERRORS:
        problems.append(f"{code} is not an error of {operation} (declared: {sorted(declared)})")
    expected = {"ServerException": 500, "MissingAuthenticationTokenException": 403}.get(code, 400)
    if status != expected:
        problems.append(f"{code} answered with HTTP {status}, expected {expected}")
    if not isinstance(document.get("message"), str) or not document["message"]:
        problems.append(f"{code} has no message: {document}")
    return problems


def check_after_call(http_response: Any, model: Any, **_: Any) -> None:
    """botocore `after-call.ecr` hook; a broken response fails the call with AssertionError."""
    problems = response_problems(
        model.name, http_response.status_code, http_response.headers, http_response.content
    )
    if problems:
        raise AssertionError(
            f"{model.name} response breaks the ECR contract:\n  "
            + "\n  ".join(problems)
            + f"\n  status {http_response.status_code}, body {http_response.content[:600]!r}"
        )


def ecr_client(endpoint: str, key: AccessKey, region: str = REGION, **config: Any) -> Any:
    """A boto3 ECR client for ``key``; no retries (a 500 must surface, not be retried away)."""
    session = boto3.session.Session()
    client = session.client(
        "ecr",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
            **config,
        ),
    )
    client.meta.events.register("after-call.ecr", check_after_call)
    return client


@contextmanager
def ecr_error(
    code: str, message: str | None = None, **members: Any
) -> Iterator[pytest.ExceptionInfo[ClientError]]:
    """Expect a ClientError with this code (and exact message and extra members, if given)."""
    with pytest.raises(ClientError) as info:
        yield info
    response = info.value.response
    assert response["Error"]["Code"] == code, response
    if message is not None:
        assert response["Error"]["Message"] == message, response
    for name, value in members.items():
        assert response.get(name) == value, (name, response)


# --------------------------------------------------------------------------- raw SigV4


class _SignerAt(SigV4Auth):
    """botocore's SigV4 signer with the request time chosen by the caller."""

    def __init__(self, credentials: Credentials, service: str, region: str, when: dt.datetime):
        super().__init__(credentials, service, region)
        self.when = when

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self.when.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        signature = self.signature(self.string_to_sign(request, canonical), request)
        self._inject_signature_to_request(request, signature)


def signed_request(
    endpoint: str,
    key: AccessKey,
    operation: str,
    body: Mapping[str, Any] | bytes = b"{}",
    *,
    when: dt.datetime | None = None,
    region: str = REGION,
    service: str = "ecr",
) -> httpx.Request:
    """`POST /` for ``operation``, signed by ``key`` as of ``when`` (default: now, UTC)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = AWSRequest(
        method="POST",
        url=endpoint.rstrip("/") + "/",
        data=data,
        headers={"Content-Type": JSON_TYPE, "X-Amz-Target": f"{TARGET_PREFIX}.{operation}"},
    )
    moment = when or dt.datetime.now(dt.UTC)
    credentials = Credentials(key.access_key_id, key.secret_access_key)
    _SignerAt(credentials, service, region, moment).add_auth(request)
    return httpx.Request("POST", request.url, headers=dict(request.headers.items()), content=data)


def send_raw(request: httpx.Request, operation: str | None = None) -> httpx.Response:
    """Send a hand-built request; with ``operation`` the answer must pass `response_problems`."""
    with httpx.Client(timeout=30.0) as client:
        response = client.send(request)
    if operation is not None:
        problems = response_problems(
            operation, response.status_code, response.headers, response.content
        )
        assert not problems, f"{operation}: {problems}\n{ociapi.describe(response)}"
    return response


# --------------------------------------------------------------------------- registry side


def registry_token(client: Any) -> str:
    """GetAuthorizationToken's token: base64("AWS:" + password), usable as `Basic` credentials."""
    data = client.get_authorization_token()["authorizationData"]
    assert len(data) == 1, data
    return data[0]["authorizationToken"]


def v2_client(base_url: str, token: str | None) -> httpx.Client:
    """An httpx client for `/v2/` sending the registry token on every request."""
    headers = {"Authorization": f"Basic {token}"} if token else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=60.0)


def push_v2(http: httpx.Client, repo: str, target: Image | Index, *tags: str) -> None:
    """Push through `/v2/`: blobs, children, then the manifest by digest or once per tag."""
    ociapi.push(http, repo, target, tags[0] if tags else None)
    for tag in tags[1:]:
        ociapi.push_manifest(http, repo, tag, target.manifest)


def push_many_v2(http: httpx.Client, repo: str, images: Iterable[Image]) -> list[Image]:
    """Push images by digest, each blob only once (for `variants`, which share them)."""
    pushed: set[str] = set()
    images = list(images)
    for image in images:
        for blob in image.blobs:
            if blob.digest not in pushed:
                ociapi.push_blob(http, repo, blob.data)
                pushed.add(blob.digest)
        ociapi.push_manifest(http, repo, image.digest, image.manifest)
    return images


def upload_layer_ecr(client: Any, repo: str, data: bytes, part_size: int | None = None) -> str:
    """InitiateLayerUpload, UploadLayerPart per part, CompleteLayerUpload; returns the digest."""
    started = client.initiate_layer_upload(repositoryName=repo)
    upload_id, size = started["uploadId"], part_size or started["partSize"]
    offset = 0
    while offset < len(data):
        part = data[offset : offset + size]
        last = offset + len(part) - 1
        answer = client.upload_layer_part(
            repositoryName=repo, uploadId=upload_id, partFirstByte=offset, partLastByte=last,
            layerPartBlob=part,
        )  # fmt: skip
        assert answer["lastByteReceived"] == last, answer
        offset += len(part)
    digest = ociapi.sha256_digest(data)
    done = client.complete_layer_upload(
        repositoryName=repo, uploadId=upload_id, layerDigests=[digest]
    )
    assert done["layerDigest"] == digest, done
    return digest


def push_ecr(client: Any, repo: str, target: Image | Index, tag: str | None = None) -> dict:
    """Push through the ECR API: missing blobs by layer upload, children, then PutImage."""
    if isinstance(target, Index):
        for child in target.images:
            try:
                push_ecr(client, repo, child)
            except ClientError as exc:  # a child shared with an earlier push is fine
                if exc.response["Error"]["Code"] != "ImageAlreadyExistsException":
                    raise
    else:
        blobs = {blob.digest: blob for blob in target.blobs}
        found = client.batch_check_layer_availability(repositoryName=repo, layerDigests=list(blobs))
        assert found["failures"] == [], found
        for layer in found["layers"]:
            if layer["layerAvailability"] != "AVAILABLE":
                upload_layer_ecr(client, repo, blobs[layer["layerDigest"]].data)
    request = {
        "repositoryName": repo,
        "imageManifest": target.manifest.data.decode(),
        "imageManifestMediaType": target.manifest.media_type,
    }
    if tag:
        request["imageTag"] = tag
    return client.put_image(**request)["image"]


# --------------------------------------------------------------------------- images


def small_image(
    seed: str,
    *,
    layers: int = 1,
    layer_bytes: int = 64,
    flavor: str = "oci",
    platform: Platform | None = None,
    subject: Mapping[str, Any] | None = None,
) -> Image:
    """A tiny image whose content (hence digests) depends on ``seed``."""
    platform = platform or Platform()
    files = [
        {f"data/{seed}/layer{i}.bin": (f"{seed}:{i}:".encode() * layer_bytes)[:layer_bytes]}
        for i in range(layers)
    ]
    return build_image(
        files,
        flavor=flavor,
        platform=platform,
        subject=subject,  # type: ignore[arg-type]
        labels={"e2e.seed": seed},
    )


def variants(seed: str, count: int) -> list[Image]:
    """``count`` images sharing one layer and config, told apart by a manifest annotation.

    Their blobs are pushed once; every further image costs one manifest PUT.
    """
    layer: Layer = build_layer({f"data/{seed}.txt": f"shared by {seed}\n".encode()})
    return [build_image([layer], annotations={"e2e.variant": f"{seed}-{i}"}) for i in range(count)]


def image_size(image: Image) -> int:
    """What ECR reports as imageSizeInBytes for one manifest: config + compressed layers."""
    return image.config.size + sum(layer.size for layer in image.layers)


def wait_for(predicate: Callable[[], Any], timeout: float = 4.0, interval: float = 0.1) -> Any:
    """Poll until ``predicate()`` is truthy and return it; the last value (falsy) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
