"""Two processes evaluate the lifecycle policies of one store at the same instant (released by a
multiprocessing Barrier): each repository is evaluated by one of them at a time, so every image
is expired exactly once in total.

On PostgreSQL only: there two evaluations of one repository could read the same images at once
and both apply them, unless the lease keeps the second away. On SQLite a run's transaction
already holds the one write lock from its first read (BEGIN IMMEDIATE), so it cannot fail there.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.app import create_services
from dockyard.services.clock import FixedClock
from dockyard.settings import Settings
from tests.contract.metadata_support import make_image
from tests.support.postgres import PostgresCluster

REPOSITORIES, IMAGES, KEEP = 12, 10, 3
POLICY = json.dumps({"rules": [{
    "rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                     "countNumber": KEEP},
    "action": {"type": "expire"}}]})


def _settings(data_dir: str, database_url: str | None) -> Settings:
    return Settings(data_dir=Path(data_dir), database_url=database_url)


def _run(data_dir: str, database_url: str | None, barrier: object, results: object) -> None:
    svc = create_services(_settings(data_dir, database_url))
    try:
        barrier.wait()  # type: ignore[attr-defined]
        report = svc.lifecycle.run_all(f"process-{multiprocessing.current_process().pid}")
        results.put((report.repositories, report.expired, report.failed))  # type: ignore[attr-defined]
    finally:
        svc.meta.close()


@pytest.fixture
def store_url(postgres: PostgresCluster) -> Iterator[str | None]:
    url = postgres.new_database()
    yield url
    postgres.drop_database(url)


def test_concurrent_runs_expire_each_image_once(tmp_path: Path, store_url: str | None) -> None:
    data_dir = str(tmp_path / "data")
    svc = create_services(_settings(data_dir, store_url), FixedClock())
    for r in range(REPOSITORIES):
        repo = svc.meta.create_repository(svc.default_account, f"app-{r}", 0.0)
        for n in range(IMAGES):
            svc.meta.save_image(repo.id, make_image(f"{r}-{n}"), f"t{n}", True, float(n))
        svc.meta.put_lifecycle_policy(repo.id, POLICY, 0.0)
    svc.meta.close()

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_run, args=(data_dir, store_url, barrier, results))
                 for _ in range(2)]
    for process in processes:
        process.start()
    reports = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    assert [failed for _, _, failed in reports] == [[], []]
    assert sum(expired for _, expired, _ in reports) == REPOSITORIES * (IMAGES - KEEP)
    assert sum(evaluated for evaluated, _, _ in reports) >= REPOSITORIES
    svc = create_services(_settings(data_dir, store_url))
    try:
        for r in range(REPOSITORIES):
            repo = svc.meta.get_repository(svc.default_account, f"app-{r}")
            assert repo is not None
            assert svc.meta.list_tags(repo.id, None, None) == [f"t{n}" for n in range(7, 10)]
    finally:
        svc.meta.close()
