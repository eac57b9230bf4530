"""Contract cases for the LifecycleStore port: policies, the facts the evaluator reads, leased
runs and previews (one holder across threads), restores from archive, archived-only layers."""

from __future__ import annotations

from collections.abc import Callable

from dockyard.domain.models import Repository
from dockyard.ports import MetadataStore

from .metadata_support import NOW, THREADS, make_image, run_together

MakeRepo = Callable[..., Repository]
LEASE = 600.0


class LifecycleCases:
    def test_policy_put_replace_delete(self, store: MetadataStore, repo: Repository) -> None:
        assert store.get_lifecycle_policy(repo.id) is None
        assert store.delete_lifecycle_policy(repo.id) is None
        store.put_lifecycle_policy(repo.id, "first", NOW)
        store.put_lifecycle_policy(repo.id, "second", NOW + 1)
        found = store.get_lifecycle_policy(repo.id)
        assert found is not None and (found.text, found.last_evaluated_at) == ("second", None)
        deleted = store.delete_lifecycle_policy(repo.id)
        assert deleted is not None and deleted.text == "second"
        assert store.get_lifecycle_policy(repo.id) is None

    def test_repository_deletion_takes_policy_and_preview(
        self, store: MetadataStore, make_repo: MakeRepo
    ) -> None:
        repo = make_repo()
        store.put_lifecycle_policy(repo.id, "policy", NOW)
        assert store.start_lifecycle_preview(repo.id, "policy", "w", NOW, LEASE)
        store.delete_repository(repo.id)  # the contract's residue check sees any leftover

    def test_facts_hold_tags_parents_referrers_and_times(
        self, store: MetadataStore, repo: Repository, make_repo: MakeRepo
    ) -> None:
        child, loose = make_image("child"), make_image("loose")
        index = make_image("index", children=[child.digest])
        referrer = make_image("sig", subject=child.digest)
        store.save_image(repo.id, child, None, True, NOW)
        store.save_image(repo.id, index, "v1", True, NOW + 1)
        store.save_image(repo.id, index, "latest", True, NOW + 1)
        store.save_image(repo.id, referrer, None, True, NOW + 2)
        store.save_image(repo.id, loose, "b", True, NOW + 3)
        store.save_image(make_repo().id, make_image("elsewhere"), "x", True, NOW)
        store.set_image_status(repo.id, loose.digest, "ARCHIVED", NOW + 10)
        saved = store.get_image(repo.id, child.digest)
        assert saved is not None
        store.record_pulls({saved.id: NOW + 20})
        facts = {f.digest: f for f in store.lifecycle_facts(repo.id)}
        assert set(facts) == {child.digest, index.digest, referrer.digest, loose.digest}
        assert facts[index.digest].tags == ("latest", "v1")
        assert facts[child.digest].parents == (index.digest,)
        assert facts[child.digest].last_pulled_at == NOW + 20
        assert facts[referrer.digest].subject_digest == child.digest
        archived = facts[loose.digest]
        assert (archived.status, archived.archived_at, archived.pushed_at) == (
            "ARCHIVED",
            NOW + 10,
            NOW + 3,
        )

    def test_runs_are_claimed_by_one_worker_at_a_time(
        self, store: MetadataStore, make_repo: MakeRepo
    ) -> None:
        due, fresh = make_repo(), make_repo()
        store.put_lifecycle_policy(due.id, "due", NOW)
        store.put_lifecycle_policy(fresh.id, "fresh", NOW + 100)
        claims = run_together(
            THREADS,
            lambda i: store.claim_lifecycle_runs(f"worker-{i}", NOW + 200, NOW + 50, LEASE, 10),
        )
        winners = [c for c in claims if c]
        assert len(winners) == 1, claims  # one worker holds the due policy; fresh is not due
        (record,) = winners[0]  # type: ignore[misc]
        assert (record.repo_id, record.repository_name) == (due.id, due.name)
        assert record.account_id == due.account_id
        # Held: nobody else gets it until the lease runs out...
        assert store.claim_lifecycle_runs("other", NOW + 300, NOW + 50, LEASE, 10) == []
        taken = store.claim_lifecycle_runs("other", NOW + 200 + LEASE + 1, NOW + 50, LEASE, 10)
        assert [r.repo_id for r in taken] == [due.id]
        # ...and a finished run is due again only after its evaluation.
        store.finish_lifecycle_run(due.id, "worker-gone", NOW + 999)  # not the holder: no-op
        store.finish_lifecycle_run(due.id, "other", NOW + 1000)
        found = store.get_lifecycle_policy(due.id)
        assert found is not None and found.last_evaluated_at == NOW + 1000
        later = NOW + 5000
        # Due before NOW + 1000: the policy put at NOW + 100, not the one just evaluated.
        claimed = store.claim_lifecycle_runs("w", later, NOW + 1000, LEASE, 10)
        assert [r.repo_id for r in claimed] == [fresh.id]
        claimed = store.claim_lifecycle_runs("w2", later, NOW + 1001, LEASE, 10)
        assert [r.repo_id for r in claimed] == [due.id]
        # Walking by repository id: each policy once.
        store.finish_lifecycle_run(due.id, "w2", NOW)
        store.finish_lifecycle_run(fresh.id, "w", NOW)
        first, second = sorted((due.id, fresh.id))
        walk = store.claim_lifecycle_runs("w4", later + LEASE, float("inf"), LEASE, 1)
        assert [r.repo_id for r in walk] == [first]
        walk = store.claim_lifecycle_runs("w4", later + LEASE, float("inf"), LEASE, 1, first)
        assert [r.repo_id for r in walk] == [second]
        assert store.claim_lifecycle_runs("w4", later + LEASE, float("inf"), LEASE, 1, second) == []

    def test_previews_one_at_a_time_and_taken_over_when_stale(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        assert store.get_lifecycle_preview(repo.id) is None
        started = run_together(
            THREADS,
            lambda i: store.start_lifecycle_preview(repo.id, f"text-{i}", f"w{i}", NOW, LEASE),
        )
        assert started.count(True) == 1, started
        running = store.get_lifecycle_preview(repo.id)
        assert running is not None and running.status == "IN_PROGRESS"
        assert store.claim_stale_previews("late", NOW + 10, LEASE) == []
        stale = store.claim_stale_previews("late", NOW + LEASE + 1, LEASE)
        assert [p.text for p in stale] == [running.text]
        store.finish_lifecycle_preview(repo.id, "late", "COMPLETE", '[["d"]]')
        done = store.get_lifecycle_preview(repo.id)
        assert done is not None and (done.status, done.results) == ("COMPLETE", '[["d"]]')
        # A finished preview is replaced by the next start at once.
        assert store.start_lifecycle_preview(repo.id, "next", "w", NOW + 2000, LEASE)
        again = store.get_lifecycle_preview(repo.id)
        assert again is not None and (again.text, again.results) == ("next", None)

    def test_restore_goes_through_activating(self, store: MetadataStore, repo: Repository) -> None:
        archived, active = make_image("archived"), make_image("active")
        store.save_image(repo.id, archived, "a", True, NOW)
        store.save_image(repo.id, active, "b", True, NOW)
        store.set_image_status(repo.id, archived.digest, "ARCHIVED", NOW + 1)
        untouched = store.request_activation(repo.id, active.digest, NOW + 2, NOW + 60)
        assert untouched is not None and untouched.status == "ACTIVE"
        restoring = store.request_activation(repo.id, archived.digest, NOW + 2, NOW + 60)
        assert restoring is not None and restoring.status == "ACTIVATING"
        assert restoring.activated_at == NOW + 2 and restoring.archived_at == NOW + 1
        assert store.request_activation(repo.id, make_image("gone").digest, NOW, NOW) is None
        assert store.finish_activations(NOW + 59) == 0
        assert store.finish_activations(NOW + 100) == 1
        restored = store.get_image(repo.id, archived.digest)
        assert restored is not None and (restored.status, restored.activated_at) == (
            "ACTIVE",
            NOW + 60,
        )
        assert store.finish_activations(NOW + 200) == 0

    def test_archived_only_blobs(self, store: MetadataStore, repo: Repository) -> None:
        one, two = make_image("one"), make_image("two")
        store.save_image(repo.id, one, "one", True, NOW)
        store.save_image(repo.id, two, "two", True, NOW)
        layer_one, layer_two = one.blob_digests[1], two.blob_digests[1]
        assert store.archived_only_blobs(repo.id, [layer_one, layer_two]) == set()
        store.set_image_status(repo.id, one.digest, "ARCHIVED", NOW)
        assert store.archived_only_blobs(repo.id, [layer_one, layer_two, "sha256:x"]) == {layer_one}
        assert store.archived_only_blobs(repo.id, []) == set()

    def test_expire_and_archive_in_bulk(
        self, store: MetadataStore, repo: Repository, make_repo: MakeRepo
    ) -> None:
        saved = [
            store.save_image(repo.id, make_image(f"bulk-{n}"), f"t{n}", True, NOW + n).image
            for n in range(5)
        ]
        other = store.save_image(make_repo().id, make_image("other"), "x", True, NOW).image
        assert store.archive_images(repo.id, [saved[0].id, saved[1].id, other.id], NOW + 9) == 2
        assert store.archive_images(repo.id, [saved[0].id], NOW + 10) == 0  # already archived
        assert store.expire_images(repo.id, [saved[1].id, saved[2].id, other.id]) == 2
        facts = {f.digest: f for f in store.lifecycle_facts(repo.id)}
        assert set(facts) == {saved[0].digest, saved[3].digest, saved[4].digest}
        assert (facts[saved[0].digest].status, facts[saved[0].digest].archived_at) == (
            "ARCHIVED",
            NOW + 9,
        )
        assert store.list_tags(repo.id, None, None) == ["t0", "t3", "t4"]
        assert store.get_image(other.repo_id, other.digest) is not None  # another repository
