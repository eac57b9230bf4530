"""Webhook endpoints from the configuration file, which events each wants, and how it is signed.

    [[webhooks]]
    url = "https://hooks.example/ecr"        # required, http or https
    secret = "..."                           # required: the HMAC-SHA256 key of the signature
    name = "ci"                              # optional, default the url; unique
    events = ["ECR Image Action"]            # optional detail-types, default all
    actions = ["PUSH"]                       # optional action-types, default all
    repository_prefix = "team-a/"            # optional
    max_attempts = 10                        # optional, default 10
    timeout = 5.0                            # optional seconds per request, default 5
    backoff = 1.0                            # optional seconds before the first retry, default 1

Each request carries `X-Dockyard-Signature-256: sha256=<hex HMAC-SHA256 of the body>` and
`X-Dockyard-Event-Id`, the EventBridge id a receiver de-duplicates on.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from dockyard.domain.events import DetailType, Event

SIGNATURE_HEADER = "X-Dockyard-Signature-256"
EVENT_ID_HEADER = "X-Dockyard-Event-Id"
DEFAULT_ATTEMPTS = 10
BACKOFF_BASE = 1.0  # seconds before the second attempt; doubles each time
BACKOFF_CAP = 600.0
_KEYS = {
    "url",
    "secret",
    "name",
    "events",
    "actions",
    "repository_prefix",
    "max_attempts",
    "timeout",
    "backoff",
}


class WebhookConfigError(ValueError):
    """A [[webhooks]] table that cannot work; the message names the table and the key."""


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str
    secret: str
    events: frozenset[str] = frozenset()  # empty: every detail-type
    actions: frozenset[str] = frozenset()  # empty: every action-type
    repository_prefix: str = ""
    max_attempts: int = DEFAULT_ATTEMPTS
    timeout: float = 5.0
    backoff: float = BACKOFF_BASE

    def wants(self, event: Event) -> bool:
        if self.events and event.detail_type not in self.events:
            return False
        if self.actions and event.action_type not in self.actions:
            return False
        return (event.repository or "").startswith(self.repository_prefix)


def parse_webhooks(tables: list[dict[str, Any]]) -> list[Webhook]:
    """The `[[webhooks]]` tables of a configuration file, checked."""
    hooks = [_parse_one(table, f"[[webhooks]] #{n}") for n, table in enumerate(tables, 1)]
    names = [hook.name for hook in hooks]
    for name in names:
        if names.count(name) > 1:
            raise WebhookConfigError(f"[[webhooks]]: name {name!r} is used twice")
    return hooks


def _parse_one(table: object, where: str) -> Webhook:
    if not isinstance(table, dict):
        raise WebhookConfigError(f"{where}: expected a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise WebhookConfigError(f"{where}: unknown key {unknown[0]!r} (known: {sorted(_KEYS)})")
    url = _text(table, "url", where)
    if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
        raise WebhookConfigError(f"{where}: url {url!r} must be http:// or https://")
    events = _texts(table, "events", where)
    known = {str(t) for t in DetailType}
    if events - known:
        raise WebhookConfigError(
            f"{where}: unknown event {min(events - known)!r} (known: {sorted(known)})"
        )
    return Webhook(
        name=str(table.get("name") or url), url=url, secret=_text(table, "secret", where),
        events=frozenset(events), actions=frozenset(_texts(table, "actions", where)),
        repository_prefix=str(table.get("repository_prefix", "")),
        max_attempts=int(_number(table, "max_attempts", where, DEFAULT_ATTEMPTS, int)),
        timeout=_number(table, "timeout", where, 5.0, float),
        backoff=_number(table, "backoff", where, BACKOFF_BASE, float),
    )  # fmt: skip


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise WebhookConfigError(f"{where}: {key!r} is required (a non-empty string)")
    return value


def _texts(table: dict[str, Any], key: str, where: str) -> set[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WebhookConfigError(f"{where}: {key!r} must be a list of strings")
    return set(value)


def _number(
    table: dict[str, Any], key: str, where: str, default: float, kind: type[int | float]
) -> int | float:
    value = table.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value <= 0
        or (kind is int and not isinstance(value, int))
    ):
        raise WebhookConfigError(f"{where}: {key!r} must be a positive {kind.__name__}")
    return kind(value)


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int, base: float = BACKOFF_BASE) -> float:
    """Seconds to wait after the `attempts`-th failed try: base, 2 base, 4 base, ... capped at
    ten minutes."""
    delay: float = base * 2 ** min(max(0, attempts - 1), 30)  # `int ** int` is Any to mypy
    return min(BACKOFF_CAP, delay)
