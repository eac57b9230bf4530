"""Delivering the outbox to webhooks: at-least-once, signed, with exponential backoff.

    claim due rows (a job claim: one dispatcher, in any process, per row)
      └─ POST body to the webhook ── 2xx ──> delivered (row deleted)
                                  └─ refused / timeout / non-2xx
                                       ├─ attempts left: retry at now + backoff(attempts)
                                       └─ last attempt:  DEAD (kept), one log line

A crash between POST and `delivered` leaves the row claimed; once the lease ends another
dispatcher sends it again: receivers de-duplicate by the event id (`X-Dockyard-Event-Id`, also
the body's `id`). A row for a webhook no longer configured is buried at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from dockyard.domain.events import Delivery
from dockyard.domain.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    Webhook,
    backoff,
    signature,
)
from dockyard.ports import OutboxStore, WebhookSender
from dockyard.services.clock import Clock

log = logging.getLogger("dockyard.events")

LEASE_SECONDS = 120.0  # longer than a batch of deliveries takes, even with slow receivers
BATCH = 20


class WebhookDispatcher:
    def __init__(
        self, outbox: OutboxStore, webhooks: Sequence[Webhook], sender: WebhookSender, clock: Clock
    ) -> None:
        self.outbox, self.sender, self.clock = outbox, sender, clock
        self.webhooks = {hook.name: hook for hook in webhooks}

    def deliver_once(self, worker: str) -> int:
        """Claim and try a batch of due deliveries; how many were tried."""
        claimed = self.outbox.claim_deliveries(worker, self.clock.now(), LEASE_SECONDS, BATCH)
        for delivery in claimed:
            self._deliver(delivery)
        return len(claimed)

    def _deliver(self, delivery: Delivery) -> None:
        hook = self.webhooks.get(delivery.webhook)
        if hook is None:
            self._give_up(delivery, "no webhook of this name is configured any more")
            return
        error = self._post(hook, delivery)
        if error is None:
            self.outbox.delivered(delivery.id)
        elif delivery.attempts + 1 >= hook.max_attempts:
            self._give_up(delivery, error)
        else:
            retry_at = self.clock.now() + backoff(delivery.attempts + 1, hook.backoff)
            self.outbox.retry_delivery(delivery.id, retry_at, error)

    def _post(self, hook: Webhook, delivery: Delivery) -> str | None:
        """None when the receiver took the event, else why not."""
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: delivery.event_id,
            SIGNATURE_HEADER: signature(hook.secret, body),
        }
        try:
            status = self.sender.post(hook.url, body, headers, hook.timeout)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None if 200 <= status < 300 else f"HTTP {status}"

    def _give_up(self, delivery: Delivery, error: str) -> None:
        log.error(
            "webhook %s: gave up on event %s after %d attempts: %s",
            delivery.webhook,
            delivery.event_id,
            delivery.attempts + 1,
            error,
        )
        self.outbox.bury_delivery(delivery.id, error)
