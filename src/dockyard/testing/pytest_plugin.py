"""pytest fixtures for a real Dockyard registry (registered through the `pytest11` entry point).

- `dockyard_registry`: one registry for the whole session (fast; tests share its state and its
  clock, so a test that calls `advance` should use the next one);
- `dockyard_registry_per_test`: a fresh registry for one test.

Both yield a dockyard.testing.Registry: `endpoint_url`, `registry_host`, `account_id`,
`access_key_id`, `secret_access_key`, `client(service)`, `login(tool)`, `auth_file()`,
`advance(seconds)`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dockyard.testing.registry import Registry


@pytest.fixture(scope="session")
def dockyard_registry() -> Iterator[Registry]:
    with Registry() as running:
        yield running


@pytest.fixture
def dockyard_registry_per_test() -> Iterator[Registry]:
    with Registry() as running:
        yield running
