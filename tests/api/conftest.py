"""Fixtures of the OCI API suite: a fresh registry per test, and a watch for server errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import Settings

from .oci_client import NAME, Manifest, OciClient, image


class CheckedClient(TestClient):
    """A TestClient that remembers every 5xx answer: no request in this suite may get one."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.server_errors: list[str] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        if response.status_code >= 500:
            self.server_errors.append(f"{method} {url} -> {response.status_code} {response.text}")
        return response


@pytest.fixture
def client(tmp_path: Path) -> Iterator[CheckedClient]:
    """A client of a fresh registry that creates repositories on push (as OCI clients expect),
    sending a registry token of the data directory's own account, as `docker login` would."""
    settings = Settings(
        data_dir=tmp_path / "data", create_on_push=True, accept_any_credentials=True
    )
    app = create_app(settings)
    with CheckedClient(app) as client:
        client.headers["Authorization"] = f"Basic {registry_token(app)}"
        yield client


def registry_token(app: Starlette) -> str:
    services = app.state.services
    account = services.default_account
    token, _ = services.auth.issue_registry_token(account, f"arn:aws:iam::{account}:root")
    return token


@pytest.fixture(autouse=True)
def _no_server_errors(client: CheckedClient) -> Iterator[None]:
    yield
    assert client.server_errors == []


@pytest.fixture
def registry(client: CheckedClient) -> OciClient:
    return OciClient(client)


@pytest.fixture
def seeded(registry: OciClient) -> Manifest:
    """NAME exists with one tagged image, so bad pushes have something to leave unchanged."""
    manifest = image("seed")
    registry.push(NAME, manifest, "seed")
    return manifest
