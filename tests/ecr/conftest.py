"""Fixtures for the ECR end-to-end suite: one real `dockyard serve` per test module.

The server is started with an auth file holding two accounts (A with a root key and an IAM-user
key "puller", B with a root key), `--region us-east-1`, and neither `--create-on-push` nor
`--accept-any-credentials`: every ECR call is SigV4-verified and every `/v2/` call needs a token
from GetAuthorizationToken. Every boto3 client carries the conformance hook of
`tests.support.ecr.check_after_call`, so each call of every test also checks the error contract.

Tests keep apart by using their own repositories (`new_repo`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ecr import (
    REGION,
    AccessKey,
    ecr_client,
    registry_token,
    v2_client,
    write_auth_file,
)
from tests.support.server import DockyardServer

ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
KEY_A = AccessKey(ACCOUNT_A, "AKIAE2EACCOUNTAROOT1", "e2e-secret-account-a-root-0123456789abcd")
KEY_A_PULLER = AccessKey(
    ACCOUNT_A, "AKIAE2EACCOUNTAPULL1", "e2e-secret-account-a-puller-0123456789ab", user="puller"
)
KEY_B = AccessKey(ACCOUNT_B, "AKIAE2EACCOUNTBROOT1", "e2e-secret-account-b-root-0123456789abcd")
ALL_KEYS = (KEY_A, KEY_A_PULLER, KEY_B)

_repo_counter = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def isolated_aws_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No user AWS config, profile or endpoint override may leak into boto3 or the CLI."""
    home = tmp_path_factory.mktemp("aws-home")
    patch = pytest.MonkeyPatch()
    for name in list(os.environ):
        if name.startswith("AWS_"):
            patch.delenv(name)
    patch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    try:
        yield home
    finally:
        patch.undo()


def start_ecr_server(keys: tuple[AccessKey, ...] = ALL_KEYS, *extra: str) -> DockyardServer:
    """A started Dockyard with ``keys`` in its auth file (caller closes it)."""
    server = DockyardServer()
    auth_file = write_auth_file(server.tmp_dir / "auth.toml", keys)
    server.extra_args = ["--auth-file", str(auth_file), "--region", REGION, *extra]
    return server.started()


@pytest.fixture(scope="module")
def ecr_server() -> Iterator[DockyardServer]:
    server = start_ecr_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def ecr_a(ecr_server: DockyardServer) -> Any:
    """boto3 ECR client of account A's root key."""
    return ecr_client(ecr_server.url, KEY_A)


@pytest.fixture(scope="module")
def ecr_puller(ecr_server: DockyardServer) -> Any:
    """boto3 ECR client of account A's IAM user `puller`."""
    return ecr_client(ecr_server.url, KEY_A_PULLER)


@pytest.fixture(scope="module")
def ecr_b(ecr_server: DockyardServer) -> Any:
    """boto3 ECR client of account B's root key."""
    return ecr_client(ecr_server.url, KEY_B)


@pytest.fixture(scope="module")
def token_a(ecr_a: Any) -> str:
    return registry_token(ecr_a)


@pytest.fixture(scope="module")
def token_b(ecr_b: Any) -> str:
    return registry_token(ecr_b)


@pytest.fixture(scope="module")
def v2_a(ecr_server: DockyardServer, token_a: str) -> Iterator[httpx.Client]:
    """`/v2/` client authenticated as account A."""
    with v2_client(ecr_server.url, token_a) as client:
        yield client


@pytest.fixture(scope="module")
def v2_b(ecr_server: DockyardServer, token_b: str) -> Iterator[httpx.Client]:
    """`/v2/` client authenticated as account B."""
    with v2_client(ecr_server.url, token_b) as client:
        yield client


def unique_repo_name(request: pytest.FixtureRequest, suffix: str = "") -> str:
    name = request.node.name.lower().replace("[", "-").replace("]", "")
    safe = "".join(c if c.isalnum() else "-" for c in name).strip("-")
    safe = "-".join(part for part in safe.split("-") if part)[:60]
    return f"ecr-e2e/{safe}{suffix}-{next(_repo_counter)}"


@pytest.fixture
def new_repo(request: pytest.FixtureRequest, ecr_a: Any) -> Callable[..., str]:
    """Create a repository with a unique name; ``client=`` picks the account (default A)."""

    def create(client: Any = None, suffix: str = "", **kwargs: Any) -> str:
        name = unique_repo_name(request, suffix)
        (client or ecr_a).create_repository(repositoryName=name, **kwargs)
        return name

    return create


@pytest.fixture
def repo(new_repo: Callable[..., str]) -> str:
    """A fresh, empty repository of account A."""
    return new_repo()
