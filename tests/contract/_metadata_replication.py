"""Contract cases for the ReplicationStore port: the configuration, and the copy queue whose rows
are the statuses (claimed once across threads, retried, ended, restarted by a new push)."""

from __future__ import annotations

from dockyard.domain.models import Repository
from dockyard.domain.replication import Destination, NewTask, ReplicationStatus
from dockyard.ports import MetadataStore

from .metadata_support import NOW, THREADS, run_together, sha

LEASE = 60.0
EU = Destination("eu-west-1", "222222222222")
HERE = Destination("us-east-1", "333333333333")


def _tasks(repo: Repository, count: int, *destinations: Destination) -> list[NewTask]:
    return [
        NewTask(repo.account_id, repo.id, repo.name, sha(f"image-{repo.id}-{i}"), d)
        for i in range(count)
        for d in destinations or (EU,)
    ]


def _claim_all(store: MetadataStore, at: float) -> None:
    """Finish every due task: the residue check then sees only rows the repository owns."""
    for task in store.claim_replications("cleanup", at, 0.0, 1000):
        store.end_replication(task.id, ReplicationStatus.COMPLETE, None, at)


class ReplicationCases:
    def test_configuration_round_trips_and_none_removes_it(
        self, store: MetadataStore, account: str
    ) -> None:
        assert store.get_replication_configuration(account) is None
        store.put_replication_configuration(account, '{"rules": [1]}', NOW)
        store.put_replication_configuration(account, '{"rules": [2]}', NOW + 1)
        assert store.get_replication_configuration(account) == '{"rules": [2]}'
        store.put_replication_configuration(account, None, NOW + 2)
        assert store.get_replication_configuration(account) is None

    def test_queued_copies_are_in_progress_and_claimed_once(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        queued = _tasks(repo, 2, EU, HERE)
        store.queue_replications(queued, NOW)
        first = store.claim_replications("w1", NOW, LEASE, 3)
        second = store.claim_replications("w2", NOW, LEASE, 10)
        assert [(t.digest, t.destination) for t in first + second] == [
            (t.digest, t.destination) for t in queued
        ]
        assert store.claim_replications("w3", NOW, LEASE, 10) == []
        statuses = store.replication_statuses(repo.id, queued[0].digest)
        assert [(s.destination, s.status) for s in statuses] == [
            (EU, ReplicationStatus.IN_PROGRESS),
            (HERE, ReplicationStatus.IN_PROGRESS),
        ]

    def test_concurrent_workers_take_different_copies(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        store.queue_replications(_tasks(repo, 20), NOW)
        results = run_together(THREADS, lambda i: store.claim_replications(f"w{i}", NOW, LEASE, 5))
        ids = [task.id for result in results for task in result]  # type: ignore[union-attr]
        assert len(ids) == len(set(ids)) == 20

    def test_a_retry_counts_waits_and_keeps_the_error(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        [queued] = _tasks(repo, 1)
        store.queue_replications([queued], NOW)
        [task] = store.claim_replications("w", NOW, LEASE, 10)
        store.retry_replication(task.id, NOW + 30, "down", NOW)
        assert store.claim_replications("w", NOW + 29, LEASE, 10) == []
        [again] = store.claim_replications("w", NOW + 30, LEASE, 10)
        assert (again.id, again.attempts) == (task.id, 1)
        store.end_replication(again.id, ReplicationStatus.FAILED, "DENIED: no", NOW + 31)
        [status] = store.replication_statuses(repo.id, queued.digest)
        assert (status.status, status.failure) == (ReplicationStatus.FAILED, "DENIED: no")
        assert store.claim_replications("w", NOW + 10**6, LEASE, 10) == []  # ended for good

    def test_a_push_again_starts_a_copy_over(self, store: MetadataStore, repo: Repository) -> None:
        [queued] = _tasks(repo, 1)
        store.queue_replications([queued], NOW)
        [task] = store.claim_replications("w", NOW, LEASE, 10)
        store.end_replication(task.id, ReplicationStatus.COMPLETE, None, NOW)
        store.queue_replications([queued], NOW + 5)
        [status] = store.replication_statuses(repo.id, queued.digest)
        assert status.status == ReplicationStatus.IN_PROGRESS
        _claim_all(store, NOW + 5)

    def test_a_claim_whose_lease_ran_out_is_free_again(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        store.queue_replications(_tasks(repo, 1), NOW)
        [held] = store.claim_replications("dead-worker", NOW, LEASE, 10)
        assert store.claim_replications("w", NOW + LEASE - 1, LEASE, 10) == []
        [again] = store.claim_replications("w", NOW + LEASE + 1, LEASE, 10)
        assert again.id == held.id
