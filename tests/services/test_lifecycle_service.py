"""The lifecycle services on the embedded store with an injected clock: preview equals
execution at the same moment, the schedule, the in-progress guard, restores on re-push."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.app import create_services
from dockyard.domain.errors import LifecyclePreviewInProgress
from dockyard.domain.manifests import parse_manifest
from dockyard.domain.models import Repository
from dockyard.services.clock import FixedClock
from dockyard.services.composition import Services
from dockyard.services.images import Reference
from dockyard.services.lifecycle_preview import PREVIEW_RESULTS_TTL, decode_results
from dockyard.settings import Settings
from tests.contract.metadata_support import make_image

DAY = 86400.0


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


POLICY = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["rel"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 2,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 10,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 3,
                "selection": {
                    "tagStatus": "any",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 30,
                },
                "action": {"type": "transition", "targetStorageClass": "archive"},
            },
        ]
    }
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(1_800_000_000.0)


@pytest.fixture
def svc(tmp_path: Path, clock: FixedClock) -> Iterator[Services]:
    services = create_services(Settings(data_dir=tmp_path / "data"), clock)
    services.previews.in_background = False
    yield services
    services.meta.close()


def fill(svc: Services, clock: FixedClock) -> Repository:
    """40 images a day apart: rel-N tags, untagged ones, other tags; a referrer or two."""
    repo = svc.meta.create_repository(svc.default_account, "team/app", clock.now())
    for n in range(40):
        new = make_image(f"image-{n}")
        tag = f"rel-{n}" if n % 3 == 0 else (None if n % 3 == 1 else f"dev-{n}")
        svc.meta.save_image(repo.id, new, tag, True, clock.now() + n * DAY)
        if n % 10 == 0:
            signature = make_image(f"sig-{n}", subject=new.digest)
            svc.meta.save_image(repo.id, signature, None, True, clock.now() + n * DAY)
    clock.advance(40 * DAY)
    return repo


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_preview_equals_execution(svc: Services, clock: FixedClock) -> None:
    repo = fill(svc, clock)
    svc.lifecycle.put_policy(svc.default_account, repo.name, POLICY)
    svc.previews.start(svc.default_account, repo.name, None)
    preview = svc.meta.get_lifecycle_preview(repo.id)
    assert preview is not None and preview.status == "COMPLETE"
    planned = {(e.digest, e.action, e.rule_priority) for e in decode_results(preview.results)}
    assert {a for _, a, _ in planned} == {"EXPIRE", "TRANSITION"}
    assert {p for _, _, p in planned} == {1, 2, 3}

    before = {f.digest: f for f in svc.meta.lifecycle_facts(repo.id)}
    logger, seen = logging.getLogger("dockyard.lifecycle"), Records()
    logger.addHandler(seen)
    level = logger.level
    logger.setLevel(logging.INFO)  # not `.level =`: setLevel clears the isEnabledFor cache
    try:
        report = svc.lifecycle.run_all("test")
    finally:
        logger.removeHandler(seen)
        logger.setLevel(level)
    after = {f.digest: f for f in svc.meta.lifecycle_facts(repo.id)}
    done = {(d, "EXPIRE") for d in set(before) - set(after)}
    done |= {
        (d, "TRANSITION")
        for d, f in after.items()
        if f.status == "ARCHIVED" and before[d].status == "ACTIVE"
    }
    assert done == {(d, a) for d, a, _ in planned}
    assert report.expired + report.transitioned == len(planned) and report.repositories == 1
    logged = [r.lifecycle for r in seen.records if hasattr(r, "lifecycle")]
    assert {(x["digest"], x["action"], x["rule_priority"]) for x in logged} == planned
    assert all(x["repository"] == "team/app" for x in logged)


def test_schedule_runs_each_policy_once_per_interval(svc: Services, clock: FixedClock) -> None:
    repo = fill(svc, clock)
    svc.lifecycle.put_policy(svc.default_account, repo.name, POLICY)
    assert svc.lifecycle.run_due("w", DAY).repositories == 0  # put just now: not due yet
    clock.advance(DAY + 1)
    first = svc.lifecycle.run_due("w", DAY)
    assert first.repositories == 1 and first.expired > 0
    assert svc.lifecycle.run_due("w", DAY).repositories == 0
    record = svc.meta.get_lifecycle_policy(repo.id)
    assert record is not None and record.last_evaluated_at == clock.now()


def test_a_running_preview_refuses_another(svc: Services, clock: FixedClock) -> None:
    repo = fill(svc, clock)
    assert svc.meta.start_lifecycle_preview(repo.id, POLICY, "another-process", clock.now(), 600)
    with pytest.raises(LifecyclePreviewInProgress):
        svc.previews.start(svc.default_account, repo.name, POLICY)
    clock.advance(601)  # that process died: its lease ran out, a server tick takes it over
    assert svc.previews.resume_stale() == 1
    preview = svc.meta.get_lifecycle_preview(repo.id)
    assert preview is not None and preview.status == "COMPLETE"


def test_a_failing_preview_ends_failed(svc: Services, clock: FixedClock) -> None:
    repo = fill(svc, clock)
    assert svc.meta.start_lifecycle_preview(repo.id, "not a policy", "p", clock.now(), 600)
    clock.advance(601)
    svc.previews.resume_stale()
    preview = svc.meta.get_lifecycle_preview(repo.id)
    assert preview is not None and preview.status == "FAILED"


def test_push_of_an_archived_image_restores_it_after_the_delay(
    tmp_path: Path, clock: FixedClock
) -> None:
    svc = create_services(Settings(data_dir=tmp_path / "slow", restore_delay=1200), clock)
    try:
        repo = svc.meta.create_repository(svc.default_account, "app", clock.now())
        config = sha256(b"{}")
        svc.meta.link_blob(repo.id, config, 2, clock.now())
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config,
                    "size": 2,
                },
                "layers": [],
            }
        ).encode()
        manifest = parse_manifest(body, None)
        svc.images.push(repo, Reference.parse("v1"), manifest, body)
        new = svc.meta.get_image_by_tag(repo.id, "v1")
        assert new is not None
        svc.archive.archive(repo, new.digest)
        svc.images.push(repo, Reference.parse("v2"), manifest, body)
        assert svc.meta.get_image(repo.id, new.digest).status == "ACTIVATING"  # type: ignore[union-attr]
        clock.advance(1199)
        assert svc.archive.finish_restores() == 0
        clock.advance(1)
        assert svc.archive.finish_restores() == 1
        restored = svc.meta.get_image(repo.id, new.digest)
        assert restored is not None and restored.status == "ACTIVE"
        assert restored.tags == ("v1", "v2")
    finally:
        svc.meta.close()


def test_a_finished_preview_expires_after_a_day(svc: Services, clock: FixedClock) -> None:
    repo = fill(svc, clock)
    svc.previews.start(svc.default_account, repo.name, POLICY)
    fresh = svc.previews.page(svc.default_account, repo.name, None, "ANY", None, None)
    assert fresh.preview.status == "COMPLETE" and fresh.entries and fresh.expiring
    clock.advance(PREVIEW_RESULTS_TTL)  # exactly the TTL: still answered
    kept = svc.previews.page(svc.default_account, repo.name, None, "ANY", None, None)
    assert kept.preview.status == "COMPLETE" and kept.entries == fresh.entries
    clock.advance(1)
    old = svc.previews.page(svc.default_account, repo.name, None, "ANY", None, None)
    assert old.preview.status == "EXPIRED"
    assert (old.entries, old.expiring, old.transitioning, old.preview.results) == ([], 0, 0, None)
    svc.previews.start(svc.default_account, repo.name, POLICY)  # a new Start: fresh results
    again = svc.previews.page(svc.default_account, repo.name, None, "ANY", None, None)
    assert again.preview.status == "COMPLETE" and again.entries


def test_a_running_preview_never_expires(svc: Services, clock: FixedClock) -> None:
    repo = fill(svc, clock)
    assert svc.meta.start_lifecycle_preview(repo.id, POLICY, "another-process", clock.now(), 600)
    clock.advance(PREVIEW_RESULTS_TTL + 1)
    page = svc.previews.page(svc.default_account, repo.name, None, "ANY", None, None)
    assert page.preview.status == "IN_PROGRESS"
