"""What a lifecycle run tells the rest of the registry: ECR-shaped events in the outbox (in the
run's transaction), one audit line per image, and the run's outcome to the metrics."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.app import create_services
from dockyard.domain.webhooks import Webhook
from dockyard.services.audit import AuditLog
from dockyard.services.clock import FixedClock
from dockyard.services.composition import Services
from dockyard.services.events import EventPublisher
from dockyard.services.lifecycle import LifecycleService
from dockyard.services.lifecycle_preview import decode_results
from dockyard.settings import Settings
from tests.services.test_lifecycle_service import POLICY, fill


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(1_800_000_000.0)


@pytest.fixture
def svc(tmp_path: Path, clock: FixedClock) -> Iterator[Services]:
    services = create_services(Settings(data_dir=tmp_path / "data"), clock)
    services.previews.in_background = False
    yield services
    services.meta.close()


class Recorded:
    """A RunMetrics sink that keeps what it was told."""

    def __init__(self) -> None:
        self.lifecycle: list[tuple[str, dict[str, int] | None]] = []
        self.gc: list[tuple[str, int, int]] = []

    def lifecycle_finished(self, outcome: str, actions: dict[str, int] | None = None) -> None:
        self.lifecycle.append((outcome, actions))

    def gc_finished(self, outcome: str, deleted_blobs: int = 0, deleted_bytes: int = 0) -> None:
        self.gc.append((outcome, deleted_blobs, deleted_bytes))


def observed(svc: Services, clock: FixedClock) -> tuple[LifecycleService, list[str], Recorded]:
    events = EventPublisher(
        svc.meta, [Webhook("hook", "http://127.0.0.1:9/", "s")], clock, "us-east-1"
    )
    lines: list[str] = []
    sink = Recorded()
    service = LifecycleService(
        svc.meta, svc.repositories, svc.archive, clock, events, AuditLog(lines.append, clock), sink
    )
    return service, lines, sink


def planned(svc: Services, name: str) -> list[tuple[str, str, int]]:
    svc.previews.start(svc.default_account, name, None)
    repo = svc.repositories.get(svc.default_account, name)
    preview = svc.meta.get_lifecycle_preview(repo.id)
    assert preview is not None
    return [(e.digest, e.action, e.rule_priority) for e in decode_results(preview.results)]


def outbox(svc: Services) -> list[dict]:
    claimed = svc.meta.claim_deliveries("test", 4e9, 60.0, 100_000)
    return [json.loads(d.body) for d in claimed]


def test_a_run_emits_events_audit_lines_and_metrics(svc: Services, clock: FixedClock) -> None:
    repo = fill(svc, clock)
    svc.lifecycle.put_policy(svc.default_account, repo.name, POLICY)
    plan = planned(svc, repo.name)
    tags = {f.digest: f.tags for f in svc.meta.lifecycle_facts(repo.id)}
    service, lines, sink = observed(svc, clock)

    report = service.run_all("test")

    assert report.repositories == 1
    details = [e["detail"] for e in outbox(svc)]
    assert all(e["result"] == "SUCCESS" and e["repository-name"] == "team/app" for e in details)
    deleted = Counter(
        (d["image-digest"], d["image-tag"]) for d in details if d["action-type"] == "DELETE"
    )
    want_deleted = Counter(
        (digest, tag)
        for digest, action, _ in plan
        if action == "EXPIRE"
        for tag in tags[digest] or ("",)
    )
    assert deleted == want_deleted and deleted
    archived = [d for d in details if d["action-type"] == "UPDATE_STORAGE_CLASS"]
    want_archived = Counter(
        (digest, tag)
        for digest, action, _ in plan
        if action == "TRANSITION"
        for tag in tags[digest] or ("",)
    )
    assert Counter((d["image-digest"], d["image-tag"]) for d in archived) == want_archived
    assert archived and all(d["target-storage-class"] == "ARCHIVE" for d in archived)

    audit = [json.loads(line) for line in lines]
    assert {
        (a["digest"], a["details"]["action"], a["details"]["rule_priority"]) for a in audit
    } == set(plan)
    assert all(
        a["action"] == "LifecycleAction"
        and a["principal"] == "dockyard:lifecycle"
        and a["repository"] == "team/app"
        for a in audit
    )
    assert len(audit) == len(plan)

    counts = Counter(action for _, action, _ in plan)
    assert sink.lifecycle == [
        ("ok", {"expire": counts["EXPIRE"], "transition": counts["TRANSITION"]})
    ]


def test_a_failed_run_writes_no_events_and_reports_failure(
    svc: Services, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = fill(svc, clock)
    svc.lifecycle.put_policy(svc.default_account, repo.name, POLICY)
    before = svc.meta.lifecycle_facts(repo.id)
    service, lines, sink = observed(svc, clock)

    def broken(*args: object) -> None:
        raise RuntimeError("the publisher broke after the DELETE events")

    # The DELETE events are written first; the failure must take them back with the change.
    monkeypatch.setattr(service.events, "storage_class_changed", broken)
    report = service.run_all("test")

    assert report.failed == ["team/app"]
    assert svc.meta.lifecycle_facts(repo.id) == before
    assert outbox(svc) == [] and lines == []
    assert sink.lifecycle == [("failed", None)]


def test_the_server_wires_the_registry_s_own_observers(svc: Services) -> None:
    from dockyard import metrics

    assert svc.lifecycle.events is svc.events and svc.lifecycle.audit is svc.audit
    assert svc.lifecycle.metrics is metrics and svc.gc.metrics is metrics
    assert svc.gc.audit is svc.audit
