"""Domain errors rendered as OCI error envelopes: one table, one handler."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from dockyard.domain import errors as e

# class -> (HTTP status, OCI error code)
OCI_ERRORS: dict[type[e.DockyardError], tuple[int, str]] = {
    e.NameInvalid: (400, "NAME_INVALID"),
    e.TagInvalid: (400, "TAG_INVALID"),
    e.DigestInvalid: (400, "DIGEST_INVALID"),
    e.DigestMismatch: (400, "DIGEST_INVALID"),
    e.ManifestInvalid: (400, "MANIFEST_INVALID"),
    e.ManifestTooLarge: (413, "SIZE_INVALID"),
    e.RangeInvalid: (416, "SIZE_INVALID"),
    e.SizeInvalid: (400, "SIZE_INVALID"),
    e.ParameterInvalid: (400, "UNSUPPORTED"),
    e.UploadInvalid: (400, "BLOB_UPLOAD_INVALID"),
    e.RepositoryNotFound: (404, "NAME_UNKNOWN"),
    e.ImageNotFound: (404, "MANIFEST_UNKNOWN"),
    e.BlobNotFound: (404, "BLOB_UNKNOWN"),
    e.UploadNotFound: (404, "BLOB_UPLOAD_UNKNOWN"),
    e.LayersNotFound: (400, "MANIFEST_BLOB_UNKNOWN"),
    e.ReferencedImagesNotFound: (400, "MANIFEST_UNKNOWN"),
    e.TagImmutable: (400, "TAG_INVALID"),
    e.ImageReferencedByManifestList: (409, "DENIED"),
    e.ImageAlreadyExists: (409, "DENIED"),
    e.RepositoryAlreadyExists: (409, "DENIED"),
    e.RepositoryNotEmpty: (409, "DENIED"),
    e.UploadOutOfOrder: (416, "BLOB_UPLOAD_INVALID"),
    e.Unsupported: (405, "UNSUPPORTED"),
    e.NotAuthorized: (401, "UNAUTHORIZED"),
    e.EmptyUpload: (400, "BLOB_UPLOAD_INVALID"),
    e.ResourceTagInvalid: (400, "UNSUPPORTED"),
    e.TooManyTags: (400, "UNSUPPORTED"),
    e.ImageDigestMismatch: (400, "DIGEST_INVALID"),
    e.PolicyNotFound: (404, "NAME_UNKNOWN"),
    e.ExclusionNotFound: (404, "NAME_UNKNOWN"),
    e.ScanNotFound: (404, "MANIFEST_UNKNOWN"),
    e.LayerAlreadyExists: (409, "DENIED"),
    e.LayerInaccessible: (404, "BLOB_UNKNOWN"),
    e.ExclusionAlreadyExists: (409, "DENIED"),
    e.LimitExceeded: (429, "TOOMANYREQUESTS"),
    e.LifecyclePolicyInvalid: (400, "UNSUPPORTED"),
    e.LifecyclePolicyNotFound: (404, "NAME_UNKNOWN"),
    e.LifecyclePreviewNotFound: (404, "NAME_UNKNOWN"),
    e.LifecyclePreviewInProgress: (409, "DENIED"),
    e.ImageArchived: (404, "MANIFEST_UNKNOWN"),
    # An archived image's layers exist but may not be read until it is restored.
    e.BlobArchived: (403, "DENIED"),
    e.AccessDenied: (403, "DENIED"),
    e.RegistryPolicyNotFound: (404, "NAME_UNKNOWN"),
    e.TemplateNotFound: (404, "NAME_UNKNOWN"),
    e.TemplateAlreadyExists: (409, "DENIED"),
    e.PullThroughRuleNotFound: (404, "NAME_UNKNOWN"),
    e.PullThroughRuleAlreadyExists: (409, "DENIED"),
    e.UnsupportedUpstreamRegistry: (400, "UNSUPPORTED"),
    e.SecretNotFound: (404, "NAME_UNKNOWN"),
    e.UnableToAccessSecret: (403, "DENIED"),
    e.UnableToDecryptSecretValue: (400, "UNSUPPORTED"),
}

API_VERSION = {"Docker-Distribution-Api-Version": "registry/2.0"}


def error_response(
    request: Request, status: int, code: str, message: str, detail: object = None
) -> Response:
    error: dict[str, object] = {"code": code, "message": message}
    if detail:
        error["detail"] = detail
    body = b"" if request.method == "HEAD" else json.dumps({"errors": [error]}).encode()
    headers = {**API_VERSION, "Content-Length": str(len(body))}
    return Response(body, status, headers=headers, media_type="application/json")


def _extra_headers(exc: e.DockyardError) -> dict[str, str]:
    """416 answers say where the client stands: the upload's end or the blob's size."""
    size = exc.detail.get("size")
    if isinstance(exc, e.UploadOutOfOrder) and isinstance(size, int):
        return {"Range": f"0-{max(size - 1, 0)}"}
    if isinstance(exc, e.RangeInvalid) and isinstance(size, int):
        return {"Content-Range": f"bytes */{size}"}
    return {}


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.DockyardError)
    status, code = OCI_ERRORS[type(exc)]
    detail = {k: v for k, v in exc.detail.items() if k != "size"}
    response = error_response(request, status, code, exc.message, detail or None)
    response.headers.update(_extra_headers(exc))
    return response


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(request, 405, "UNSUPPORTED", "the operation is unsupported")
    return error_response(request, exc.status_code, "UNSUPPORTED", "no such endpoint")
