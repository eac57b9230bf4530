"""ECR account settings (GetAccountSetting / PutAccountSetting) and the rules they switch."""

from __future__ import annotations

from dockyard.domain.errors import ParameterInvalid
from dockyard.ports import AccountStore
from dockyard.services.audit import AuditAction, AuditLog, audited
from dockyard.services.clock import SystemClock

# Setting name -> (default value, allowed values). Dockyard enables blob mounting by default:
# cross-repository mounts are part of the OCI API every client uses (ECR's default is off).
ACCOUNT_SETTINGS = {
    "BASIC_SCAN_TYPE_VERSION": ("AWS_NATIVE", {"AWS_NATIVE"}),
    # V1: the registry policy decides only the registry-level actions (services/access.py).
    "REGISTRY_POLICY_SCOPE": ("V2", {"V1", "V2"}),
    "BLOB_MOUNTING": ("ENABLED", {"ENABLED", "DISABLED"}),
}


class AccountSettings:
    def __init__(self, accounts: AccountStore, audit: AuditLog | None = None) -> None:
        self.accounts = accounts
        self.audit = audit or AuditLog(None, SystemClock())

    def get(self, account_id: str, name: str) -> str:
        default, _ = _setting(name)
        return self.accounts.get_account_setting(account_id, name) or default

    @audited(AuditAction.PUT_ACCOUNT_SETTING, names_repository=False)
    def put(self, account_id: str, name: str, value: str) -> str:
        _, allowed = _setting(name)
        if value not in allowed:
            raise ParameterInvalid(
                f"Invalid parameter at 'value' failed to satisfy constraint: "
                f"'Member must satisfy enum value set: {sorted(allowed)}'"
            )
        self.accounts.put_account_setting(account_id, name, value)
        return value

    def blob_mounting(self, account_id: str) -> bool:
        return self.get(account_id, "BLOB_MOUNTING") == "ENABLED"


def _setting(name: str) -> tuple[str, set[str]]:
    if name not in ACCOUNT_SETTINGS:
        raise ParameterInvalid(
            f"Invalid parameter at 'name' failed to satisfy constraint: "
            f"'Member must satisfy enum value set: {sorted(ACCOUNT_SETTINGS)}'"
        )
    return ACCOUNT_SETTINGS[name]
