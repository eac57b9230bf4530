"""Enhanced scanning covers the images that were there before it was turned on.

When PutRegistryScanningConfiguration selects ENHANCED, every ACTIVE image (indexes aside, as on
push) of each repository a SCAN_ON_PUSH or CONTINUOUS_SCAN rule matches, and whose last scan is
not already enhanced, gets an enhanced scan queued (status PENDING), a page of 500 images per
transaction. The scan workers then scan them like pushed images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard.domain.models import Image, ImageKey, Repository
from dockyard.ports import MetadataStore
from dockyard.services.scan_config import rule_for

PAGE = 500
ENHANCED_FREQUENCIES = ("SCAN_ON_PUSH", "CONTINUOUS_SCAN")


def queue_existing_images(
    meta: MetadataStore, config: dict[str, Any], account_id: str, queue: Callable[[Image], object]
) -> int:
    """Queue (through `queue`) an enhanced scan of each image the configuration now covers."""
    queued, after = 0, None
    while repos := meta.list_repositories(account_id, None, after, 100):
        for repo in repos:
            rule = rule_for(config, repo)
            if rule and rule.get("scanFrequency") in ENHANCED_FREQUENCIES:
                queued += _queue_repository(meta, repo, queue)
        after = repos[-1].name
    return queued


def _queue_repository(
    meta: MetadataStore, repo: Repository, queue: Callable[[Image], object]
) -> int:
    queued, key = 0, None
    while page := meta.list_images(repo.id, key, PAGE, "ANY", "ACTIVE"):
        with meta.atomic():
            scans = meta.scans_for([image.id for image in page])
            for image in page:
                last = scans.get(image.id)
                if _is_index(image) or (last is not None and last.scan_type == "ENHANCED"):
                    continue
                queue(image)
                queued += 1
        key = ImageKey(page[-1].pushed_at, page[-1].id)
    return queued


def _is_index(image: Image) -> bool:
    return image.media_type.endswith(("index.v1+json", "list.v2+json"))
