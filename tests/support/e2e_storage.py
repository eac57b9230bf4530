"""The ``--e2e-storage`` switch: run tests/e2e and tests/ecr with their blobs in S3 (moto).

As a pytest plugin (tests/conftest.py loads it), ``--e2e-storage=s3`` or
``DOCKYARD_E2E_STORAGE=s3`` starts one moto S3 server for the session and gives every
DockyardServer a fresh bucket (one per data dir) as its ``--storage-url``, with the
credentials moto accepts in its environment. Combined with ``--e2e-database=postgres`` (see
tests/support/postgres.py) the whole end-to-end suite runs on the scale-out configuration.
The default, ``file``, leaves servers on their data directory's files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.s3 import CREDENTIALS, MotoS3
from tests.support.server import DockyardServer

E2E_STORAGE_ENV = "DOCKYARD_E2E_STORAGE"
PREFIX = "registry"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--e2e-storage",
        choices=("file", "s3"),
        default=os.environ.get(E2E_STORAGE_ENV, "file"),
        help="blob storage of the servers in tests/e2e and tests/ecr "
        f"(default file; s3 runs moto on loopback; also ${E2E_STORAGE_ENV})",
    )


@pytest.fixture(scope="session", autouse=True)
def _e2e_storage(request: pytest.FixtureRequest) -> Iterator[None]:
    """With --e2e-storage=s3, give each DockyardServer its own bucket on a session moto."""
    if request.config.getoption("--e2e-storage") != "s3":
        yield
        return
    with MotoS3() as moto:
        previous = DockyardServer.storage_url_factory, DockyardServer.storage_environment
        DockyardServer.storage_url_factory = lambda: moto.url(moto.bucket(), PREFIX)
        # Explicit credentials: the ECR suite clears AWS_* from the test process's environment.
        DockyardServer.storage_environment = dict(CREDENTIALS)
        try:
            yield
        finally:
            DockyardServer.storage_url_factory, DockyardServer.storage_environment = previous
