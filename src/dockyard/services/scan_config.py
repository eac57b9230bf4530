"""Registry scanning configuration (PutRegistryScanningConfiguration) and how it applies.

Stored per account as JSON among the account settings: `{"scanType": ..., "rules": [...]}`,
each rule `{"scanFrequency": SCAN_ON_PUSH|CONTINUOUS_SCAN|MANUAL, "repositoryFilters":
[{"filter": "prod-*", "filterType": "WILDCARD"}]}`.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard.domain.models import Repository
from dockyard.domain.rules import matches_any
from dockyard.ports import MetadataStore
from dockyard.services.audit import AuditAction, AuditLog, audited
from dockyard.services.clock import SystemClock

SETTING = "dockyard:registry-scanning-configuration"
DEFAULT = {"scanType": "BASIC", "rules": []}


class ScanConfigService:
    def __init__(self, meta: MetadataStore, audit: AuditLog | None = None) -> None:
        self.meta = meta
        self.audit = audit or AuditLog(None, SystemClock())

    def get(self, account_id: str) -> dict[str, Any]:
        stored = self.meta.get_account_setting(account_id, SETTING)
        return json.loads(stored) if stored else dict(DEFAULT)

    @audited(AuditAction.PUT_SCANNING_CONFIGURATION, names_repository=False)
    def put(self, account_id: str, scan_type: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        config = {"scanType": scan_type, "rules": rules}
        self.meta.put_account_setting(account_id, SETTING, json.dumps(config))
        return config

    def scan_type(self, account_id: str) -> str:
        scan_type: str = self.get(account_id)["scanType"]
        return scan_type

    def rule_for(self, repo: Repository) -> dict[str, Any] | None:
        return rule_for(self.get(repo.account_id), repo)


def rule_for(config: dict[str, Any], repo: Repository) -> dict[str, Any] | None:
    """The first registry rule whose filters match the repository."""
    rules: list[dict[str, Any]] = config["rules"]
    for rule in rules:
        filters = tuple(f["filter"] for f in rule.get("repositoryFilters", []))
        if matches_any(repo.name, filters):
            return rule
    return None
