"""Events shaped like ECR's EventBridge events, and what the webhook outbox holds.

    envelope  {"version": "0", "id", "detail-type", "source": "aws.ecr", "account", "time",
               "region", "resources": [...], "detail": {...}}

`detail` per detail-type (reference/ecr-wave2.md §7.1):

    ECR Image Action   result, repository-name, image-digest, action-type, image-tag
                       (+ target-storage-class, manifest-media-type, artifact-media-type for
                       UPDATE_STORAGE_CLASS; + last-activated-at on a restore)
    ECR Image Scan     scan-status, repository-name, finding-severity-counts (non-zero only),
                       image-digest, image-tags; resources = [repository ARN]

The `id` (a UUID) is the receiver's de-duplication key: at-least-once delivery may repeat an
event, never change it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class DetailType(StrEnum):
    IMAGE_ACTION = "ECR Image Action"
    REFERRER_ACTION = "ECR Referrer Action"
    IMAGE_SCAN = "ECR Image Scan"
    PULL_THROUGH_CACHE_ACTION = "ECR Pull Through Cache Action"
    REPLICATION_ACTION = "ECR Replication Action"


class ActionType(StrEnum):
    PUSH = "PUSH"
    DELETE = "DELETE"
    UPDATE_STORAGE_CLASS = "UPDATE_STORAGE_CLASS"
    REPLICATE = "REPLICATE"


@dataclass(frozen=True)
class Event:
    detail_type: str
    account: str
    region: str
    time: float
    detail: dict[str, object]
    resources: tuple[str, ...] = ()
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def repository(self) -> str | None:
        name = self.detail.get("repository-name")
        return name if isinstance(name, str) else None

    @property
    def action_type(self) -> str | None:
        action = self.detail.get("action-type")
        return action if isinstance(action, str) else None

    def envelope(self) -> dict[str, object]:
        return {
            "version": "0", "id": self.id, "detail-type": self.detail_type, "source": "aws.ecr",
            "account": self.account, "time": iso_time(self.time), "region": self.region,
            "resources": list(self.resources), "detail": self.detail,
        }  # fmt: skip

    def to_json(self) -> str:
        return json.dumps(self.envelope(), separators=(",", ":"))


def iso_time(seconds: float) -> str:
    """EventBridge's time format: UTC, whole seconds, `Z`."""
    moment = dt.datetime.fromtimestamp(int(seconds), dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def repository_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ecr:{region}:{account}:repository/{name}"


def image_action(
    action: ActionType,
    account: str,
    region: str,
    now: float,
    repository: str,
    digest: str,
    tag: str | None,
    **extra: object,
) -> Event:
    """One image action; `tag` None (an untagged image) is sent as "" as ECR does."""
    detail: dict[str, object] = {
        "result": "SUCCESS", "repository-name": repository, "image-digest": digest,
        "action-type": str(action), "image-tag": tag or "",
    }  # fmt: skip
    detail.update({key.replace("_", "-"): value for key, value in extra.items()})
    return Event(DetailType.IMAGE_ACTION, account, region, now, detail)


def image_scan(
    account: str,
    region: str,
    now: float,
    repository: str,
    digest: str,
    tags: tuple[str, ...],
    status: str,
    severity_counts: dict[str, int],
) -> Event:
    detail: dict[str, object] = {
        "scan-status": status, "repository-name": repository,
        "finding-severity-counts": {k: v for k, v in severity_counts.items() if v},
        "image-digest": digest, "image-tags": list(tags),
    }  # fmt: skip
    return Event(
        DetailType.IMAGE_SCAN,
        account,
        region,
        now,
        detail,
        (repository_arn(region, account, repository),),
    )


class DeliveryState(StrEnum):
    PENDING = "PENDING"
    DEAD = "DEAD"  # gave up after the webhook's attempts; kept for the operator to look at


@dataclass(frozen=True)
class OutboxEntry:
    """One event for one webhook, written in the transaction of the change it reports."""

    event_id: str
    webhook: str
    body: str
    created_at: float


@dataclass(frozen=True)
class Delivery:
    """A claimed outbox entry: `attempts` counts the tries before this one."""

    id: int
    event_id: str
    webhook: str
    body: str
    attempts: int
