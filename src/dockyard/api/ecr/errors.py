"""Domain errors rendered as AWS JSON errors: one table from class to `__type`.

When an operation's model does not declare the mapped error, the generic
InvalidParameterException is sent instead (every operation declares it), so clients only ever
see errors their SDK knows for that call.
"""

from __future__ import annotations

from dockyard.api.ecr import model
from dockyard.domain import errors as e

ECR_ERRORS: dict[type[e.DockyardError], str] = {
    e.NameInvalid: "InvalidParameterException",
    e.TagInvalid: "InvalidParameterException",
    e.DigestInvalid: "InvalidParameterException",
    e.DigestMismatch: "InvalidLayerException",
    e.ManifestInvalid: "InvalidParameterException",
    e.ManifestTooLarge: "InvalidParameterException",
    e.RangeInvalid: "InvalidParameterException",
    e.SizeInvalid: "InvalidParameterException",
    e.ParameterInvalid: "InvalidParameterException",
    e.UploadInvalid: "InvalidParameterException",
    e.EmptyUpload: "EmptyUploadException",
    e.ResourceTagInvalid: "InvalidTagParameterException",
    e.TooManyTags: "TooManyTagsException",
    e.ImageDigestMismatch: "ImageDigestDoesNotMatchException",
    e.RepositoryNotFound: "RepositoryNotFoundException",
    e.ImageNotFound: "ImageNotFoundException",
    e.BlobNotFound: "LayersNotFoundException",
    e.UploadNotFound: "UploadNotFoundException",
    e.PolicyNotFound: "RepositoryPolicyNotFoundException",
    e.ExclusionNotFound: "ExclusionNotFoundException",
    e.ScanNotFound: "ScanNotFoundException",
    e.LayersNotFound: "LayersNotFoundException",
    e.ReferencedImagesNotFound: "ReferencedImagesNotFoundException",
    e.TagImmutable: "ImageTagAlreadyExistsException",
    e.ImageReferencedByManifestList: "InvalidParameterException",
    e.ImageAlreadyExists: "ImageAlreadyExistsException",
    e.RepositoryAlreadyExists: "RepositoryAlreadyExistsException",
    e.RepositoryNotEmpty: "RepositoryNotEmptyException",
    e.UploadOutOfOrder: "InvalidLayerPartException",
    e.LayerAlreadyExists: "LayerAlreadyExistsException",
    e.LayerInaccessible: "LayerInaccessibleException",
    e.ExclusionAlreadyExists: "ExclusionAlreadyExistsException",
    e.Unsupported: "ValidationException",
    e.NotAuthorized: "UnrecognizedClientException",
    e.LimitExceeded: "LimitExceededException",
    e.LifecyclePolicyInvalid: "InvalidParameterException",
    e.LifecyclePolicyNotFound: "LifecyclePolicyNotFoundException",
    e.LifecyclePreviewNotFound: "LifecyclePolicyPreviewNotFoundException",
    e.LifecyclePreviewInProgress: "LifecyclePolicyPreviewInProgressException",
    e.ImageArchived: "ImageArchivedException",
    e.BlobArchived: "LayerInaccessibleException",
    e.AccessDenied: "AccessDeniedException",
    e.RegistryPolicyNotFound: "RegistryPolicyNotFoundException",
    e.TemplateNotFound: "TemplateNotFoundException",
    e.TemplateAlreadyExists: "TemplateAlreadyExistsException",
    e.PullThroughRuleNotFound: "PullThroughCacheRuleNotFoundException",
    e.PullThroughRuleAlreadyExists: "PullThroughCacheRuleAlreadyExistsException",
    e.UnsupportedUpstreamRegistry: "UnsupportedUpstreamRegistryException",
    e.SecretNotFound: "SecretNotFoundException",
    e.UnableToAccessSecret: "UnableToAccessSecretException",
    e.UnableToDecryptSecretValue: "UnableToDecryptSecretValueException",
}

#: AWS's common errors: any operation of any service may answer them (IAM authorization runs
#: before the operation), so they are sent whatever the operation's model declares.
COMMON_ERRORS = frozenset({"AccessDeniedException"})

FALLBACK = "InvalidParameterException"


def error_type(operation: str | None, exc: e.DockyardError) -> str:
    name = ECR_ERRORS[type(exc)]
    if operation is None or name in COMMON_ERRORS or not model.has_operation(operation):
        return name
    return name if name in model.error_shape_names(operation) else FALLBACK


def error_body(
    operation: str | None, exc: e.DockyardError, request: dict[str, object] | None = None
) -> dict[str, object]:
    """The error document; `request` (registryId, repositoryName, uploadId) fills extra members."""
    body: dict[str, object] = {"__type": error_type(operation, exc), "message": exc.message}
    size = exc.detail.get("size")
    if body["__type"] == "InvalidLayerPartException" and isinstance(size, int):
        # The members of InvalidLayerPartException tell the client where to resume.
        for member in ("registryId", "repositoryName", "uploadId"):
            if request and request.get(member):
                body[member] = request[member]
        body["lastValidByteReceived"] = max(size - 1, 0)
    return body
