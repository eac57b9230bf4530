"""Lifecycle policies: stored per repository, evaluated on a schedule or on demand.

    PutLifecyclePolicy ... parse_policy (AWS's validation) -> store
    run_due / run_all  ... claim policies (a lease in the database: one evaluator per
                           repository across processes) -> evaluate -> apply, one transaction
                           per repository -> record lastEvaluatedAt, free the lease

Evaluation is domain.lifecycle.evaluate over the facts the store loads in a few queries; the
preview (services/lifecycle_preview.py) calls the same `plan`. Applying an action: expire deletes
the image with all its tags (referrers are actions of their own, see the evaluator), as
BatchDeleteImage does, leaving bytes to garbage collection; transition archives it. Each action
is logged, once committed, at info level on the "dockyard.lifecycle" logger with repository, digest, tags, rule
priority and action (fields under `extra["lifecycle"]` for structured handlers).

Each action also reaches the other observers:

    inside the transaction   events: "ECR Image Action" DELETE per tag of an expired image (as
                             BatchDeleteImage), UPDATE_STORAGE_CLASS per tag of an archived one
    after the commit         audit: one LifecycleAction line per image (principal dockyard:lifecycle)
                             metrics: lifecycle_finished(ok|failed, {expire: n, transition: m})

Leases and lastEvaluatedAt use the wall clock; `now` (dockyard lifecycle run --now) only moves
the moment the policy is evaluated at.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from dockyard.domain.errors import LifecyclePolicyNotFound
from dockyard.domain.lifecycle import Action, evaluate
from dockyard.domain.lifecycle_policy import ActionType, parse_policy
from dockyard.domain.models import LifecyclePolicyRecord, Repository
from dockyard.ports import MetadataStore, NoRunMetrics, RunMetrics
from dockyard.services.archive import ArchiveService
from dockyard.services.audit import AuditAction, AuditLog
from dockyard.services.clock import Clock
from dockyard.services.events import EventPublisher
from dockyard.services.repositories import RepositoryService

log = logging.getLogger("dockyard.lifecycle")

RUN_LEASE_SECONDS = 600.0
RUNS_PER_CLAIM = 10
DAY = 86400.0
PRINCIPAL = "dockyard:lifecycle"
EVENT_CHUNK = 500  # archived images loaded per query for their events


@dataclass
class RunReport:
    repositories: int = 0
    expired: int = 0
    transitioned: int = 0
    failed: list[str] = field(default_factory=list)


def policy_not_found(repo: Repository) -> LifecyclePolicyNotFound:
    return LifecyclePolicyNotFound(
        f"Lifecycle policy does not exist for the repository with name '{repo.name}' in the "
        f"registry with id '{repo.account_id}'"
    )


class LifecycleService:
    def __init__(
        self,
        meta: MetadataStore,
        repos: RepositoryService,
        archive: ArchiveService,
        clock: Clock,
        events: EventPublisher,
        audit: AuditLog,
        metrics: RunMetrics | None = None,
    ) -> None:
        self.meta, self.repos, self.archive, self.clock = meta, repos, archive, clock
        self.events, self.audit = events, audit
        self.metrics = metrics or NoRunMetrics()

    # -- the policy ------------------------------------------------------------------------

    def put_policy(self, account_id: str, name: str, text: str) -> Repository:
        parse_policy(text)
        repo = self.repos.get(account_id, name)
        self.meta.put_lifecycle_policy(repo.id, text, self.clock.now())
        return repo

    def get_policy(self, account_id: str, name: str) -> tuple[Repository, LifecyclePolicyRecord]:
        repo = self.repos.get(account_id, name)
        record = self.meta.get_lifecycle_policy(repo.id)
        if record is None:
            raise policy_not_found(repo)
        return repo, record

    def delete_policy(self, account_id: str, name: str) -> tuple[Repository, LifecyclePolicyRecord]:
        repo = self.repos.get(account_id, name)
        record = self.meta.delete_lifecycle_policy(repo.id)
        if record is None:
            raise policy_not_found(repo)
        return repo, record

    # -- evaluation --------------------------------------------------------------------------

    def plan(self, repo_id: int, text: str, now: float) -> list[Action]:
        """What the policy would do to the repository at `now` (preview and run alike)."""
        return evaluate(parse_policy(text), self.meta.lifecycle_facts(repo_id), now)

    def run_due(self, worker: str, interval: float) -> RunReport:
        """Evaluate every policy not evaluated within `interval` seconds (the schedule)."""
        return self._run_claimed(worker, self.clock.now() - interval, None)

    def run_all(self, worker: str, now: float | None = None) -> RunReport:
        """Evaluate every policy now (dockyard lifecycle run), as if the time were `now`.

        Policies another process is evaluating at this moment are left to it."""
        report = self._run_claimed(worker, float("inf"), now)
        self.archive.finish_restores(now)
        return report

    def _run_claimed(self, worker: str, due_before: float, now: float | None) -> RunReport:
        report, after = RunReport(), 0
        while claimed := self.meta.claim_lifecycle_runs(
            worker, self.clock.now(), due_before, RUN_LEASE_SECONDS, RUNS_PER_CLAIM, after
        ):
            for record in claimed:
                self._run_one(record, worker, now, report)
            after = claimed[-1].repo_id
        return report

    def _run_one(
        self, record: LifecyclePolicyRecord, worker: str, now: float | None, report: RunReport
    ) -> None:
        at = self.clock.now() if now is None else now
        try:
            actions = self.execute(record, at)
        except Exception:  # one broken repository must not stop the others
            log.exception("lifecycle evaluation of %s failed", record.repository_name)
            report.failed.append(record.repository_name)
            self.metrics.lifecycle_finished("failed")
        else:
            counts = _counts(actions)
            report.repositories += 1
            report.expired += counts[ActionType.EXPIRE]
            report.transitioned += counts[ActionType.TRANSITION]
            self.metrics.lifecycle_finished("ok", {str(k): n for k, n in counts.items()})
        finally:
            self.meta.finish_lifecycle_run(record.repo_id, worker, self.clock.now())

    def execute(self, record: LifecyclePolicyRecord, now: float) -> list[Action]:
        """Evaluate and apply in one transaction: the facts cannot change in between."""
        repo = Repository(record.repo_id, record.account_id, record.repository_name, 0.0)
        with self.meta.atomic():
            actions = self.plan(record.repo_id, record.text, now)
            # Archived as of the evaluation's time, so --now runs stay consistent.
            self.meta.archive_images(repo.id, _ids(actions, ActionType.TRANSITION), now)
            self.meta.expire_images(repo.id, _ids(actions, ActionType.EXPIRE))
            self._publish(repo, actions)
        for action in actions:  # logged once they are committed
            _log(repo, action)
            self._audit(repo, action)
        return actions

    def _publish(self, repo: Repository, actions: list[Action]) -> None:
        """The events of the applied actions, in the transaction that applied them."""
        if not self.events.webhooks:
            return  # nothing would be written: spare loading the archived images
        for action in actions:
            if action.type is ActionType.EXPIRE:
                self.events.image_deleted(
                    repo.account_id, repo.name, action.image.digest, action.image.tags
                )
        archived = [a.image.digest for a in actions if a.type is ActionType.TRANSITION]
        for start in range(0, len(archived), EVENT_CHUNK):  # bounded IN lists
            for image in self.meta.images_by_digests(
                repo.id, archived[start : start + EVENT_CHUNK]
            ):
                self.events.storage_class_changed(repo.account_id, repo.name, image)

    def _audit(self, repo: Repository, action: Action) -> None:
        self.audit.record(
            AuditAction.LIFECYCLE_ACTION,
            account=repo.account_id,
            repository=repo.name,
            digest=action.image.digest,
            tags=action.image.tags,
            principal=PRINCIPAL,
            details={"action": action.type.upper(), "rule_priority": action.rule_priority},
        )


def _counts(actions: list[Action]) -> dict[ActionType, int]:
    counts = dict.fromkeys(ActionType, 0)
    for action in actions:
        counts[action.type] += 1
    return counts


def _ids(actions: list[Action], kind: ActionType) -> list[int]:
    return [action.image.id for action in actions if action.type is kind]


def _log(repo: Repository, action: Action) -> None:
    image = action.image
    fields = {
        "repository": repo.name,
        "registry": repo.account_id,
        "digest": image.digest,
        "tags": list(image.tags),
        "rule_priority": action.rule_priority,
        "action": action.type.upper(),
    }
    log.info(
        "lifecycle %s %s@%s tags=%s rule=%d",
        fields["action"],
        repo.name,
        image.digest,
        ",".join(image.tags),
        action.rule_priority,
        extra={"lifecycle": fields},
    )
