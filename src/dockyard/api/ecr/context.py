"""What an ECR operation handler receives: the services and who is calling, from where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.domain.errors import ParameterInvalid
from dockyard.services.composition import Services


@dataclass(frozen=True)
class Call:
    services: Services
    account_id: str
    principal: str
    region: str
    base_url: str

    def account(self, params: dict[str, Any]) -> str:
        """The registry an operation targets (`registryId`, default the caller's); the endpoint
        checked the caller's access to it before the handler ran (access_targets)."""
        return params.get("registryId") or self.account_id

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


def access_targets(
    operation: str, params: dict[str, Any], caller_account: str
) -> tuple[str, list[str | None]]:
    """The registry a call addresses and the repositories it names (None: the registry as a
    whole), for the access check: `repositoryName`, each of DescribeRepositories'
    `repositoryNames`, or the repository of a `resourceArn`."""
    account = params.get("registryId") or caller_account
    if isinstance(params.get("repositoryName"), str):
        return account, [params["repositoryName"]]
    if operation == "DescribeRepositories" and params.get("repositoryNames"):
        return account, list(params["repositoryNames"])
    arn = params.get("resourceArn")
    if isinstance(arn, str):
        parts = arn.split(":", 5)
        kind, _, name = parts[-1].partition("/")
        if len(parts) == 6 and kind == "repository" and name:
            return parts[4], [name]
    return account, [None]


def _invalid_arn() -> ParameterInvalid:
    return ParameterInvalid(
        "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN'"
    )
