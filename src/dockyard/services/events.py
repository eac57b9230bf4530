"""Publishing events: ECR-shaped events into the webhook outbox, in the change's transaction.

    a service's change ── inside meta.atomic() ──> events.publish(event)
                                                    └─> one outbox row per webhook that wants it
    (commit: the change and its rows, or neither)   services/event_dispatch.py delivers them

One call per kind of change, so callers stay one line (`events.image_pushed(...)`); lifecycle,
pull-through and replication call `publish` with an event built by domain/events.py. With no
webhooks configured, publishing writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from dockyard.domain.events import ActionType, Event, OutboxEntry, image_action, image_scan
from dockyard.domain.models import Image, ScanRecord
from dockyard.domain.webhooks import Webhook
from dockyard.ports import OutboxStore
from dockyard.services.clock import Clock

log = logging.getLogger("dockyard.events")


class EventPublisher:
    def __init__(
        self, outbox: OutboxStore, webhooks: Sequence[Webhook], clock: Clock, region: str
    ) -> None:
        self.outbox, self.webhooks, self.clock, self.region = outbox, list(webhooks), clock, region

    def publish(self, event: Event) -> None:
        """Queue `event` for every webhook that wants it; call inside the change's atomic()."""
        wanted = [hook for hook in self.webhooks if hook.wants(event)]
        if not wanted:
            return
        body, now = event.to_json(), self.clock.now()
        self.outbox.add_outbox_entries(
            [OutboxEntry(event.id, hook.name, body, now) for hook in wanted]
        )

    # -- one call per change ------------------------------------------------------------------

    def image_pushed(self, account: str, repository: str, digest: str, tag: str | None) -> None:
        self.publish(self._action(ActionType.PUSH, account, repository, digest, tag))

    def image_deleted(
        self, account: str, repository: str, digest: str, tags: Sequence[str | None]
    ) -> None:
        """One DELETE per tag the image had (one with an empty tag when it had none)."""
        for tag in list(tags) or [None]:
            self.publish(self._action(ActionType.DELETE, account, repository, digest, tag))

    def storage_class_changed(self, account: str, repository: str, image: Image) -> None:
        extra: dict[str, object] = {
            "target_storage_class": "ARCHIVE" if image.status == "ARCHIVED" else "STANDARD",
            "manifest_media_type": image.media_type,
            "artifact_media_type": image.artifact_media_type or "",
        }
        if image.status == "ACTIVE" and image.activated_at is not None:
            extra["last_activated_at"] = image.activated_at
        for tag in image.tags or (None,):
            self.publish(
                self._action(
                    ActionType.UPDATE_STORAGE_CLASS, account, repository, image.digest, tag, **extra
                )
            )

    def scan_finished(self, image: Image, record: ScanRecord) -> None:
        """ECR Image Scan for a scan that ended (COMPLETE, ACTIVE for enhanced, or FAILED)."""
        if not self.webhooks:
            return
        named = self.outbox.repository_name(image.repo_id)
        if named is None:
            return  # the repository went while the image was being scanned
        account, repository = named
        status = "COMPLETE" if record.status == "ACTIVE" else record.status
        self.publish(
            image_scan(
                account,
                self.region,
                self.clock.now(),
                repository,
                image.digest,
                image.tags,
                status,
                record.severity_counts,
            )
        )

    def _action(
        self,
        action: ActionType,
        account: str,
        repository: str,
        digest: str,
        tag: str | None,
        **extra: object,
    ) -> Event:
        return image_action(
            action, account, self.region, self.clock.now(), repository, digest, tag, **extra
        )
