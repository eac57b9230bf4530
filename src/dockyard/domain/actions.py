"""The one table from requests of either protocol to the ECR action names policies speak of.

The ECR API: operation `X` needs `ecr:X`. `/v2/`: each (method, kind of path) needs the action of
the ECR operation doing the same thing, as ECR documents for its own `/v2/` endpoint:

    manifests   GET/HEAD BatchGetImage        PUT PutImage          DELETE BatchDeleteImage
    blobs       GET GetDownloadUrlForLayer    HEAD BatchCheckLayerAvailability
                DELETE BatchDeleteImage (unlinking a blob is a delete)
    uploads     POST InitiateLayerUpload      PATCH UploadLayerPart PUT CompleteLayerUpload
                GET/DELETE UploadLayerPart (status and cancel of one's own upload)
    tags        GET ListImages                referrers GET ListImageReferrers
    catalog     GET DescribeRepositories (registry-wide: no repository)
"""

from __future__ import annotations

from enum import StrEnum


class PathKind(StrEnum):
    MANIFESTS = "manifests"
    BLOBS = "blobs"
    UPLOADS = "uploads"
    TAGS = "tags"
    REFERRERS = "referrers"
    CATALOG = "catalog"


OCI_ACTIONS: dict[tuple[str, PathKind], str] = {
    ("GET", PathKind.MANIFESTS): "ecr:BatchGetImage",
    ("HEAD", PathKind.MANIFESTS): "ecr:BatchGetImage",
    ("PUT", PathKind.MANIFESTS): "ecr:PutImage",
    ("DELETE", PathKind.MANIFESTS): "ecr:BatchDeleteImage",
    ("GET", PathKind.BLOBS): "ecr:GetDownloadUrlForLayer",
    ("HEAD", PathKind.BLOBS): "ecr:BatchCheckLayerAvailability",
    ("DELETE", PathKind.BLOBS): "ecr:BatchDeleteImage",
    ("POST", PathKind.UPLOADS): "ecr:InitiateLayerUpload",
    ("PATCH", PathKind.UPLOADS): "ecr:UploadLayerPart",
    ("PUT", PathKind.UPLOADS): "ecr:CompleteLayerUpload",
    ("GET", PathKind.UPLOADS): "ecr:UploadLayerPart",
    ("DELETE", PathKind.UPLOADS): "ecr:UploadLayerPart",
    ("GET", PathKind.TAGS): "ecr:ListImages",
    ("GET", PathKind.REFERRERS): "ecr:ListImageReferrers",
    ("GET", PathKind.CATALOG): "ecr:DescribeRepositories",
}


#: The web console's changes (api/console), by form: an image action's name, or the settings
#: form's path under `/-/settings/`. The console's read-only pages are not checked.
CONSOLE_ACTIONS: dict[str, str] = {
    "add-tag": "ecr:PutImage",
    "remove-tag": "ecr:BatchDeleteImage",
    "delete": "ecr:BatchDeleteImage",
    "archive": "ecr:UpdateImageStorageClass",
    "restore": "ecr:UpdateImageStorageClass",
    "scan": "ecr:StartImageScan",
    "settings/mutability": "ecr:PutImageTagMutability",
    "settings/scanning": "ecr:PutImageScanningConfiguration",
    "settings/policy": "ecr:SetRepositoryPolicy",
    "settings/policy/delete": "ecr:DeleteRepositoryPolicy",
}


def ecr_action(operation: str) -> str:
    return f"ecr:{operation}"


def oci_action(method: str, kind: PathKind) -> str | None:
    """The action a `/v2/` request needs; None for a method the path does not serve."""
    return OCI_ACTIONS.get((method.upper(), kind))


#: Actions decided by the registry policy alone (ECR's V1 scope enforces exactly these).
REGISTRY_ACTIONS = frozenset(
    {"ecr:CreateRepository", "ecr:ReplicateImage", "ecr:BatchImportUpstreamImage"}
)
