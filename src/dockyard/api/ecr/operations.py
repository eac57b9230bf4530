"""Every ECR operation Dockyard serves, one row each. Anything else is UnknownOperationException.

The operations of the model that are not listed here (image signing, for one) are not
implemented; they answer UnknownOperationException with a
message naming the operation, never a fake result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard.api.ecr import ops_account as account
from dockyard.api.ecr import ops_images as images
from dockyard.api.ecr import ops_layers as layers
from dockyard.api.ecr import ops_lifecycle as lifecycle
from dockyard.api.ecr import ops_policies as policies
from dockyard.api.ecr import ops_pull_through as pull_through
from dockyard.api.ecr import ops_replication as replication
from dockyard.api.ecr import ops_repositories as repos
from dockyard.api.ecr import ops_scanning as scanning
from dockyard.api.ecr import ops_templates as templates

Handler = Callable[..., Any]

OPERATIONS: dict[str, Handler] = {
    # repositories
    "CreateRepository": repos.create_repository,
    "DescribeRepositories": repos.describe_repositories,
    "DeleteRepository": repos.delete_repository,
    "PutImageTagMutability": repos.put_image_tag_mutability,
    "PutImageScanningConfiguration": repos.put_image_scanning_configuration,
    "TagResource": repos.tag_resource,
    "UntagResource": repos.untag_resource,
    "ListTagsForResource": repos.list_tags_for_resource,
    "SetRepositoryPolicy": repos.set_repository_policy,
    "GetRepositoryPolicy": repos.get_repository_policy,
    "DeleteRepositoryPolicy": repos.delete_repository_policy,
    # images
    "DescribeImages": images.describe_images,
    "ListImages": images.list_images,
    "BatchGetImage": images.batch_get_image,
    "PutImage": images.put_image,
    "BatchDeleteImage": images.batch_delete_image,
    "ListImageReferrers": images.list_image_referrers,
    "UpdateImageStorageClass": images.update_image_storage_class,
    # layers
    "InitiateLayerUpload": layers.initiate_layer_upload,
    "UploadLayerPart": layers.upload_layer_part,
    "CompleteLayerUpload": layers.complete_layer_upload,
    "BatchCheckLayerAvailability": layers.batch_check_layer_availability,
    "GetDownloadUrlForLayer": layers.get_download_url_for_layer,
    # scanning
    "StartImageScan": scanning.start_image_scan,
    "DescribeImageScanFindings": scanning.describe_image_scan_findings,
    "GetRegistryScanningConfiguration": scanning.get_registry_scanning_configuration,
    "PutRegistryScanningConfiguration": scanning.put_registry_scanning_configuration,
    "BatchGetRepositoryScanningConfiguration": scanning.batch_get_repository_scanning_configuration,
    # lifecycle policies
    "PutLifecyclePolicy": lifecycle.put_lifecycle_policy,
    "GetLifecyclePolicy": lifecycle.get_lifecycle_policy,
    "DeleteLifecyclePolicy": lifecycle.delete_lifecycle_policy,
    "StartLifecyclePolicyPreview": lifecycle.start_lifecycle_policy_preview,
    "GetLifecyclePolicyPreview": lifecycle.get_lifecycle_policy_preview,
    # account
    "GetAuthorizationToken": account.get_authorization_token,
    "GetAccountSetting": account.get_account_setting,
    "PutAccountSetting": account.put_account_setting,
    "RegisterPullTimeUpdateExclusion": account.register_pull_time_update_exclusion,
    "DeregisterPullTimeUpdateExclusion": account.deregister_pull_time_update_exclusion,
    "ListPullTimeUpdateExclusions": account.list_pull_time_update_exclusions,
    # registry policy (enforced with repository policies by services/access.py)
    "PutRegistryPolicy": policies.put_registry_policy,
    "GetRegistryPolicy": policies.get_registry_policy,
    "DeleteRegistryPolicy": policies.delete_registry_policy,
    # repository creation templates
    "CreateRepositoryCreationTemplate": templates.create_repository_creation_template,
    "DescribeRepositoryCreationTemplates": templates.describe_repository_creation_templates,
    "UpdateRepositoryCreationTemplate": templates.update_repository_creation_template,
    "DeleteRepositoryCreationTemplate": templates.delete_repository_creation_template,
    # pull-through cache (the pulls themselves: services/pull_through_cache.py)
    "CreatePullThroughCacheRule": pull_through.create_pull_through_cache_rule,
    "DescribePullThroughCacheRules": pull_through.describe_pull_through_cache_rules,
    "UpdatePullThroughCacheRule": pull_through.update_pull_through_cache_rule,
    "DeletePullThroughCacheRule": pull_through.delete_pull_through_cache_rule,
    "ValidatePullThroughCacheRule": pull_through.validate_pull_through_cache_rule,
    # replication (the copies: services/replication_copy.py)
    "PutReplicationConfiguration": replication.put_replication_configuration,
    "DescribeRegistry": replication.describe_registry,
    "DescribeImageReplicationStatus": replication.describe_image_replication_status,
}
