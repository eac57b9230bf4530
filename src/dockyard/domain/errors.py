"""Domain errors, raised once by services and rendered by each protocol adapter.

The tree::

    DockyardError
    ├── InvalidInput           (malformed names, tags, digests, ranges, manifests, parameters)
    │   ├── NameInvalid, TagInvalid, DigestInvalid, ManifestInvalid, RangeInvalid,
    │   │   ManifestTooLarge, DigestMismatch, SizeInvalid, ParameterInvalid, UploadInvalid
    ├── NotFound
    │   ├── RepositoryNotFound, ImageNotFound, BlobNotFound, UploadNotFound,
    │   │   LifecyclePolicyNotFound, LifecyclePreviewNotFound, RegistryPolicyNotFound,
    │   │   TemplateNotFound, PullThroughRuleNotFound, SecretNotFound
    ├── Conflict
    │   ├── LayersNotFound, ReferencedImagesNotFound, TagImmutable,
    │   │   ImageReferencedByManifestList, RepositoryAlreadyExists, RepositoryNotEmpty,
    │   │   UploadOutOfOrder, ImageAlreadyExists, LifecyclePreviewInProgress,
    │   │   ImageArchived, BlobArchived, TemplateAlreadyExists, PullThroughRuleAlreadyExists
    ├── Unsupported
    ├── UnsupportedUpstreamRegistry, UnableToAccessSecret, UnableToDecryptSecretValue
    ├── NotAuthorized
    ├── AccessDenied
    └── LimitExceeded

Each protocol keeps its own table from class to wire code (api/oci/errors.py, api/ecr/errors.py);
a unit test checks that every concrete class appears in both.
"""

from __future__ import annotations


class DockyardError(Exception):
    """Base of every error a service may raise on purpose."""

    def __init__(self, message: str, **detail: object) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidInput(DockyardError):
    pass


class NameInvalid(InvalidInput):
    pass


class TagInvalid(InvalidInput):
    pass


class DigestInvalid(InvalidInput):
    pass


class DigestMismatch(InvalidInput):
    pass


class ManifestInvalid(InvalidInput):
    pass


class ManifestTooLarge(InvalidInput):
    pass


class RangeInvalid(InvalidInput):
    """A byte range that cannot be served; carries the blob size for the 416 answer."""


class SizeInvalid(InvalidInput):
    pass


class ParameterInvalid(InvalidInput):
    pass


class UploadInvalid(InvalidInput):
    pass


class EmptyUpload(InvalidInput):
    pass


class ResourceTagInvalid(InvalidInput):
    pass


class TooManyTags(InvalidInput):
    pass


class ImageDigestMismatch(InvalidInput):
    """A manifest pushed with a digest that is not the digest of its bytes (ECR PutImage)."""


class LifecyclePolicyInvalid(InvalidInput):
    """A lifecycle policy text that breaks the grammar (message in AWS's words)."""


class NotFound(DockyardError):
    pass


class RepositoryNotFound(NotFound):
    pass


class ImageNotFound(NotFound):
    pass


class BlobNotFound(NotFound):
    pass


class UploadNotFound(NotFound):
    pass


class PolicyNotFound(NotFound):
    pass


class ExclusionNotFound(NotFound):
    pass


class ScanNotFound(NotFound):
    pass


class LifecyclePolicyNotFound(NotFound):
    pass


class LifecyclePreviewNotFound(NotFound):
    pass


class RegistryPolicyNotFound(NotFound):
    pass


class TemplateNotFound(NotFound):
    pass


class Conflict(DockyardError):
    pass


class LayersNotFound(Conflict):
    """A manifest references blobs that are not in the repository."""


class ReferencedImagesNotFound(Conflict):
    """An index references child manifests that are not in the repository."""


class TagImmutable(Conflict):
    pass


class ImageReferencedByManifestList(Conflict):
    pass


class ImageAlreadyExists(Conflict):
    pass


class RepositoryAlreadyExists(Conflict):
    pass


class RepositoryNotEmpty(Conflict):
    pass


class UploadOutOfOrder(Conflict):
    """A chunk that does not start where the upload ends; carries the current size."""


class LayerAlreadyExists(Conflict):
    pass


class LayerInaccessible(Conflict):
    """A blob the repository holds but no image of it references."""


class ExclusionAlreadyExists(Conflict):
    pass


class LifecyclePreviewInProgress(Conflict):
    pass


class ImageArchived(Conflict):
    """The image is archived (or being restored): it cannot be scanned or pulled."""


class BlobArchived(Conflict):
    """Only archived images of the repository use the blob: its bytes cannot be read."""


class TemplateAlreadyExists(Conflict):
    pass


class Unsupported(DockyardError):
    pass


class PullThroughRuleNotFound(NotFound):
    pass


class PullThroughRuleAlreadyExists(Conflict):
    pass


class UnsupportedUpstreamRegistry(DockyardError):
    pass


class SecretNotFound(NotFound):
    """A pull-through cache rule's credentialArn names no secret of the account."""


class UnableToAccessSecret(DockyardError):
    """The secret exists but is not the account's to read."""


class UnableToDecryptSecretValue(DockyardError):
    """The secret's value is not a usable {username, accessToken} pair."""


class NotAuthorized(DockyardError):
    """Missing, malformed, forged or expired registry credentials."""


class AccessDenied(DockyardError):
    """A known caller refused by a policy (an explicit Deny, or no Allow across accounts)."""


class LimitExceeded(DockyardError):
    pass


def concrete_errors() -> list[type[DockyardError]]:
    """Every leaf class of the tree: the set both protocol tables must cover."""
    leaves: list[type[DockyardError]] = []
    pending: list[type[DockyardError]] = [DockyardError]
    while pending:
        cls = pending.pop()
        subs = cls.__subclasses__()
        if subs:
            pending.extend(subs)
        else:
            leaves.append(cls)
    return sorted(leaves, key=lambda c: c.__name__)
