"""The replication worker over a real SQLite registry, driven step by step with a fixed clock:
a destination that cannot be reached is retried with backoff and FAILED after the last attempt
with the reason; an image deleted before its copy FAILS as missing; one claim per task.

The unreachable destination is a real HTTP target (backends/replica_http.py) aimed at a port
nobody listens on; images enter through the OCI API of the same registry (no lifespan: the
test runs the worker itself).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app, create_services
from dockyard.domain.replication import ReplicationStatus
from dockyard.replication_setup import load_regions, target_factory
from dockyard.services.clock import FixedClock
from dockyard.services.composition import Services
from dockyard.services.image_queries import ImageId
from dockyard.services.replication_copy import ReplicationWorker, RetryPolicy
from dockyard.settings import Settings
from tests.support import ociapi
from tests.support.ecr import small_image
from tests.support.server import free_port

REMOTE = "333333333333"
RULES = {"rules": [{"destinations": [{"region": "eu-west-1", "registryId": REMOTE}]}]}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Services, TestClient, ReplicationWorker, FixedClock]:
    config = tmp_path / "dockyard.toml"
    config.write_text(
        f'[[regions]]\nname = "eu-west-1"\nurl = "http://127.0.0.1:{free_port()}"\n'
        'access_key_id = "AKIAREMOTE"\nsecret_access_key = "s"\ntimeout = 5\n'
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        create_on_push=True,
        accept_any_credentials=True,
        config_file=str(config),
    )
    clock = FixedClock()
    services = create_services(settings, clock)
    client = TestClient(create_app(settings, services))  # no lifespan: no background worker
    account = services.default_account
    token, _ = services.auth.issue_registry_token(account, f"arn:aws:iam::{account}:root")
    client.headers["Authorization"] = f"Basic {token}"
    worker = ReplicationWorker(
        services.meta,
        services.blob_store,
        services.images,
        services.templates,
        services.access,
        clock,
        settings.region,
        target_factory(load_regions(str(config)), settings.region),
        RetryPolicy(base_seconds=10, max_seconds=15, max_attempts=3),
    )
    yield services, client, worker, clock
    services.meta.close()


def status(services: Services, name: str, digest: str) -> tuple[ReplicationStatus, str | None]:
    _, _, (found,) = services.replication.statuses(services.default_account, name, ImageId(digest))
    return found.status, found.failure


def test_unreachable_destination_is_retried_then_failed_with_the_reason(setup) -> None:
    services, client, worker, clock = setup
    services.replication.put_configuration(services.default_account, RULES)
    image = small_image("worker-unreachable")
    ociapi.push(client, "app", image, "v1")
    assert status(services, "app", image.digest) == (ReplicationStatus.IN_PROGRESS, None)

    assert worker.work_once("w") == 1
    state, failure = status(services, "app", image.digest)
    assert state is ReplicationStatus.IN_PROGRESS and "DESTINATION_UNREACHABLE" in failure
    assert worker.work_once("w") == 0  # not due before its backoff (10 s)
    clock.advance(10)
    assert worker.work_once("w") == 1
    clock.advance(14)
    assert worker.work_once("w") == 0  # the second delay doubled, capped at 15 s
    clock.advance(1)
    assert worker.work_once("w") == 1  # the third and last attempt
    state, failure = status(services, "app", image.digest)
    assert state is ReplicationStatus.FAILED
    assert failure.startswith("DESTINATION_UNREACHABLE") and "127.0.0.1" in failure
    clock.advance(10**6)
    assert worker.work_once("w") == 0  # given up for good


def test_an_image_deleted_before_its_copy_fails_as_missing(setup) -> None:
    services, client, worker, _ = setup
    services.replication.put_configuration(services.default_account, RULES)
    image = small_image("worker-deleted")
    ociapi.push(client, "gone", image, "v1")
    services.images.delete(services.default_account, "gone", image.digest)
    assert worker.work_once("w") == 1
    repo = services.meta.get_repository(services.default_account, "gone")
    (found,) = services.meta.replication_statuses(repo.id, image.digest)
    assert found.status is ReplicationStatus.FAILED
    assert found.failure.startswith("SOURCE_IMAGE_MISSING")


def test_no_configuration_queues_nothing_and_an_empty_one_removes_it(setup) -> None:
    services, client, worker, _ = setup
    image = small_image("worker-unconfigured")
    ociapi.push(client, "plain", image, "v1")
    assert (
        services.replication.statuses(services.default_account, "plain", ImageId(image.digest))[2]
        == []
    )
    services.replication.put_configuration(services.default_account, RULES)
    assert services.replication.put_configuration(services.default_account, {"rules": []}) == {
        "rules": []
    }
    assert services.meta.get_replication_configuration(services.default_account) is None
    ociapi.push(client, "plain", small_image("worker-after-disable"), "v2")
    assert worker.work_once("w") == 0
