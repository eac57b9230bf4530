"""Contract cases for the OutboxStore port: durable, claimed once, retried, given up on."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from dockyard.domain.events import OutboxEntry
from dockyard.ports import MetadataStore

from .metadata_support import NOW, make_image, run_together

_ids = itertools.count()
LEASE = 60.0


def _entries(count: int, webhook: str = "hook", at: float = NOW) -> list[OutboxEntry]:
    return [OutboxEntry(f"event-{next(_ids)}", webhook, f'{{"n":{i}}}', at) for i in range(count)]


class OutboxCases:
    @pytest.fixture(autouse=True)
    def _empty_outbox(self, store: MetadataStore, _leaves_nothing_behind: None) -> Iterator[None]:
        yield  # torn down before the residue check it names
        # Deliver whatever a test left pending, so the contract's residue check sees none.
        while claimed := store.claim_deliveries("cleanup", NOW + 10**7, 0.0, 100):
            for delivery in claimed:
                store.delivered(delivery.id)
        store.delete_dead_deliveries()

    def test_claimed_oldest_first_and_only_once(self, store: MetadataStore) -> None:
        added = _entries(3)
        store.add_outbox_entries(added)
        first = store.claim_deliveries("w1", NOW, LEASE, 2)
        second = store.claim_deliveries("w2", NOW, LEASE, 10)
        assert [d.event_id for d in first + second] == [e.event_id for e in added]
        assert [(d.body, d.webhook, d.attempts) for d in first] == [
            ('{"n":0}', "hook", 0),
            ('{"n":1}', "hook", 0),
        ]
        assert store.claim_deliveries("w3", NOW, LEASE, 10) == []

    def test_a_claim_whose_lease_ran_out_is_free_again(self, store: MetadataStore) -> None:
        store.add_outbox_entries(_entries(1))
        [held] = store.claim_deliveries("dead-worker", NOW, LEASE, 10)
        assert store.claim_deliveries("w", NOW + LEASE - 1, LEASE, 10) == []
        [again] = store.claim_deliveries("w", NOW + LEASE + 1, LEASE, 10)
        assert again.id == held.id

    def test_delivered_entries_go(self, store: MetadataStore) -> None:
        store.add_outbox_entries(_entries(2))
        for delivery in store.claim_deliveries("w", NOW, LEASE, 10):
            store.delivered(delivery.id)
        assert store.outbox_counts() == {"PENDING": 0, "DEAD": 0}

    def test_a_retry_counts_releases_and_waits(self, store: MetadataStore) -> None:
        store.add_outbox_entries(_entries(1))
        [first] = store.claim_deliveries("w", NOW, LEASE, 10)
        store.retry_delivery(first.id, NOW + 30, "HTTP 500")
        assert store.claim_deliveries("w", NOW + 29, LEASE, 10) == []
        [second] = store.claim_deliveries("w", NOW + 30, LEASE, 10)
        assert (second.id, second.attempts) == (first.id, 1)

    def test_buried_entries_stay_dead_and_unclaimed(self, store: MetadataStore) -> None:
        store.add_outbox_entries(_entries(2))
        dead, alive = store.claim_deliveries("w", NOW, LEASE, 10)
        store.bury_delivery(dead.id, "HTTP 500")
        store.retry_delivery(alive.id, NOW, "refused")
        assert store.outbox_counts() == {"PENDING": 1, "DEAD": 1}
        assert [d.id for d in store.claim_deliveries("w", NOW + 10**6, 0.0, 10)] == [alive.id]
        assert store.delete_dead_deliveries() == 1

    def test_entries_commit_with_the_change_or_not_at_all(
        self, store: MetadataStore, make_repo
    ) -> None:
        repo = make_repo()
        with pytest.raises(RuntimeError), store.atomic():
            store.save_image(repo.id, make_image("a"), "v1", True, NOW)
            store.add_outbox_entries(_entries(1))
            raise RuntimeError("the change failed")
        assert store.outbox_counts()["PENDING"] == 0
        assert store.get_image_by_tag(repo.id, "v1") is None

    def test_concurrent_dispatchers_never_take_the_same_entry(self, store: MetadataStore) -> None:
        store.add_outbox_entries(_entries(40))
        results = run_together(8, lambda i: store.claim_deliveries(f"w{i}", NOW, LEASE, 10))
        claimed = [d.id for found in results for d in found]  # type: ignore[union-attr]
        assert not [r for r in results if isinstance(r, BaseException)]
        assert len(claimed) == len(set(claimed)) == 40

    def test_repository_name_by_id(self, store: MetadataStore, make_repo) -> None:
        repo = make_repo()
        assert store.repository_name(repo.id) == (repo.account_id, repo.name)
        assert store.repository_name(-1) is None
