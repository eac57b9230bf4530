"""What an ECR operation handler receives: the services and who is calling, from where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.domain.errors import ParameterInvalid
from dockyard.services.registry import Services
from dockyard.services.repositories import not_found


@dataclass(frozen=True)
class Call:
    services: Services
    account_id: str
    principal: str
    region: str
    base_url: str

    def account(self, params: dict[str, Any]) -> str:
        """The registry an operation targets; another account's registry looks empty."""
        registry = params.get("registryId")
        if registry and registry != self.account_id:
            raise not_found(registry, params.get("repositoryName", ""))
        return self.account_id

    def repository_arn(self, name: str, account_id: str | None = None) -> str:
        return f"arn:aws:ecr:{self.region}:{account_id or self.account_id}:repository/{name}"

    def repository_uri(self, name: str, account_id: str | None = None) -> str:
        host = self.base_url.split("://", 1)[-1].rstrip("/")
        return f"{host}/{name}"

    def name_from_arn(self, arn: str) -> str:
        """The repository an ARN names; any region is accepted, the account must be the caller's."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "ecr"] or parts[4] != self.account_id:
            raise _invalid_arn()
        kind, _, name = parts[5].partition("/")
        if kind != "repository" or not name:
            raise _invalid_arn()
        return name


def _invalid_arn() -> ParameterInvalid:
    return ParameterInvalid(
        "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN'"
    )
