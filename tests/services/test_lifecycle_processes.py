"""Two processes evaluate the lifecycle policy of one repository on one PostgreSQL store, the
second starting while the first holds the facts it read and has applied nothing yet (the first
pauses there until the second is done, or 20 s). The lease keeps the second away, so each image
is expired once in total; without it both would apply the same plan.

PostgreSQL only: on SQLite a run's transaction holds the one write lock from its first read
(BEGIN IMMEDIATE), so the second process could not even claim until the first committed.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.app import create_services
from dockyard.services.clock import FixedClock
from dockyard.settings import Settings
from tests.contract.metadata_support import make_image
from tests.support.postgres import PostgresCluster

IMAGES, KEEP = 10, 3
POLICY = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": KEEP,
                },
                "action": {"type": "expire"},
            }
        ]
    }
)


def _settings(data_dir: str, database_url: str | None) -> Settings:
    return Settings(data_dir=Path(data_dir), database_url=database_url)


def _run(
    data_dir: str, database_url: str | None, first: bool, events: dict[str, Any], results: Any
) -> None:
    svc = create_services(_settings(data_dir, database_url))
    try:
        if first:
            read = svc.meta.lifecycle_facts

            def read_then_wait(repo_id: int) -> Any:
                facts = read(repo_id)
                events["first_read"].set()
                events["second_done"].wait(20)
                return facts

            svc.meta.lifecycle_facts = read_then_wait  # type: ignore[method-assign]
        else:
            events["first_read"].wait(60)
        report = svc.lifecycle.run_all(f"process-{'first' if first else 'second'}")
        if not first:
            events["second_done"].set()
        results.put((first, report.repositories, report.expired, report.failed))
    finally:
        svc.meta.close()


@pytest.fixture
def store_url(postgres: PostgresCluster) -> Iterator[str | None]:
    url = postgres.new_database()
    yield url
    postgres.drop_database(url)


def test_one_evaluation_of_a_repository_at_a_time(tmp_path: Path, store_url: str | None) -> None:
    data_dir = str(tmp_path / "data")
    svc = create_services(_settings(data_dir, store_url), FixedClock())
    repo = svc.meta.create_repository(svc.default_account, "app", 0.0)
    for n in range(IMAGES):
        svc.meta.save_image(repo.id, make_image(f"image-{n}"), f"t{n}", True, float(n))
    svc.meta.put_lifecycle_policy(repo.id, POLICY, 0.0)
    svc.meta.close()

    context = multiprocessing.get_context("spawn")
    events = {"first_read": context.Event(), "second_done": context.Event()}
    results = context.Queue()
    processes = [
        context.Process(target=_run, args=(data_dir, store_url, first, events, results))
        for first in (True, False)
    ]
    for process in processes:
        process.start()
    reports = {first: rest for first, *rest in (results.get(timeout=120) for _ in processes)}
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    assert reports[True] == [1, IMAGES - KEEP, []]
    assert reports[False] == [0, 0, []]  # the repository was leased to the first process
    svc = create_services(_settings(data_dir, store_url))
    try:
        assert svc.meta.list_tags(repo.id, None, None) == [f"t{n}" for n in range(7, 10)]
    finally:
        svc.meta.close()
