"""Contract cases for the GarbageStore port on SQL backends: the blob state machine of
services/gc.py (live -> candidate -> deleting -> gone), its compare-and-set, leases, upload
expiry and storage use. Blob states are read straight from the table.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from dockyard.backends.metadata.schema import blobs
from dockyard.backends.metadata.sql import SqlMetadataStore
from dockyard.domain.models import Repository, Upload
from dockyard.ports import BlobClaim

from .metadata_support import NOW, fresh_name, make_image, run_together, sha

DAY = 86400.0
OLD = NOW - 10 * DAY  # when the test blobs were linked: long out of any grace period
CUTOFF = NOW - DAY  # a grace period of one day, judged at NOW


def state(store: SqlMetadataStore, digest: str) -> tuple[str, int] | None:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(blobs.c.state, blobs.c.gen).where(blobs.c.digest == digest))
        found = row.first()
    return None if found is None else (found.state, found.gen)


def mark_all(store: SqlMetadataStore, cutoff: float = CUTOFF, limit: int = 1000) -> int:
    after: str | None = ""
    total = 0
    while after is not None:
        after, marked, _ = store.mark_candidates(after, limit, cutoff, NOW)
        total += marked
    return total


def sweep_all(store: SqlMetadataStore, cutoff: float = CUTOFF, limit: int = 1000) -> list[str]:
    after: str | None = ""
    claimed: list[str] = []
    while after is not None:
        after, found = store.claim_for_deletion(after, limit, cutoff, NOW)
        claimed += [c.digest for c in found]
    return sorted(claimed)


class GarbageCases:
    def link(self, store: SqlMetadataStore, repo: Repository, label: str, size: int = 10) -> str:
        digest = sha(f"{label} {fresh_name()}")
        store.link_blob(repo.id, digest, size, OLD)
        return digest

    def test_mark_takes_only_unreferenced_untouched_blobs(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        image = make_image("kept")
        for digest in image.blob_digests:
            store.link_blob(repo.id, digest, 5, OLD)
        store.save_image(repo.id, image, None, False, OLD)
        orphan = self.link(store, repo, "orphan")
        recent = sha(fresh_name())
        store.link_blob(repo.id, recent, 7, NOW - 60)
        after, count, size = store.mark_candidates("", 1000, CUTOFF, NOW, dry_run=True)
        assert (after, count, size) == (max(*image.blob_digests, orphan, recent), 1, 10)
        assert state(store, orphan) == ("live", 0)  # a dry run writes nothing
        assert mark_all(store) == 1
        assert state(store, orphan) == ("candidate", 1)
        assert [state(store, d)[0] for d in (*image.blob_digests, recent)] == ["live"] * 3

    def test_mark_works_in_windows(self, store: SqlMetadataStore, repo: Repository) -> None:
        digests = sorted(self.link(store, repo, f"b{i}") for i in range(7))
        after, count, _ = store.mark_candidates("", 3, CUTOFF, NOW)
        assert (after, count) == (digests[2], 3)
        assert mark_all(store, limit=3) == 4

    def test_blobs_of_archived_and_child_images_are_reachable(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        child, archived = make_image("child"), make_image("archived")
        for image in (child, archived):
            for digest in image.blob_digests:
                store.link_blob(repo.id, digest, 5, OLD)
            store.save_image(repo.id, image, None, False, OLD)
        store.save_image(repo.id, make_image("index", children=[child.digest]), "t", True, OLD)
        store.set_image_status(repo.id, archived.digest, "ARCHIVED", OLD)
        assert mark_all(store) == 0

    def test_sweep_is_a_compare_and_set(self, store: SqlMetadataStore, repo: Repository) -> None:
        touched, referenced, pinned, doomed = (self.link(store, repo, n) for n in "abcd")
        assert mark_all(store) == 4
        assert store.touch_blobs([touched], NOW, 60) == set()  # revived: gen moved
        assert state(store, touched) == ("live", 2)
        # Named by an image without reviving it: the sweep's own re-check must see the image.
        store.save_image(repo.id, _naming(referenced), None, False, NOW)
        assert state(store, referenced) == ("candidate", 1)
        assert store.pin_blob("t1", pinned, 10, NOW, 3600)
        assert sweep_all(store, CUTOFF) == [doomed]
        assert state(store, doomed) == ("deleting", 2)
        assert store.unpin_blob("t1", pinned, NOW)

    def test_sweep_works_in_windows_and_skips_revived_candidates(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        digests = sorted(self.link(store, repo, f"w{i}") for i in range(5))
        mark_all(store)
        store.touch_blobs([digests[1]], NOW, 60)  # revived, then marked again: a new gen
        assert mark_all(store, cutoff=NOW + 1) == 1
        assert state(store, digests[1]) == ("candidate", 3)
        after, found = store.claim_for_deletion("", 2, CUTOFF, NOW)  # touched: not garbage yet
        assert (after, [c.digest for c in found]) == (digests[1], [digests[0]])
        assert sweep_all(store, limit=2) == digests[2:]
        assert sweep_all(store, cutoff=NOW + 1) == [digests[1]]
        store.forget_blobs(digests)

    def test_deleting_blobs_are_gone_for_every_user(
        self, store: SqlMetadataStore, repo: Repository, make_repo
    ) -> None:
        digest = self.link(store, repo, "gone")
        mark_all(store)
        assert sweep_all(store) == [digest]
        other = make_repo()
        assert store.touch_blobs([digest], NOW, 60) == {digest}
        assert store.hold_blobs([digest], NOW) == [digest]
        assert store.adopt_blob(repo.id, other.id, digest, NOW) is False
        assert store.pin_blob("t2", digest, 10, NOW, 3600) is False
        assert [c.digest for c in store.deleting(10)] == [digest]
        store.forget_blobs([digest])
        assert state(store, digest) is None
        assert store.linked_blob_size(repo.id, digest) is None
        assert store.hold_blobs([digest], NOW) == [digest]  # gone counts as missing too

    def test_fresh_touches_do_not_write(self, store: SqlMetadataStore, repo: Repository) -> None:
        digest = sha(fresh_name())
        store.link_blob(repo.id, digest, 1, NOW - 10)
        store.touch_blobs([digest], NOW, 60)
        with store.engine.connect() as conn:
            touched = conn.execute(sa.select(blobs.c.touched_at).where(blobs.c.digest == digest))
            assert touched.scalar() is None  # seen 10 s after creation: nothing written
        store.touch_blobs([digest], NOW + 100, 60)
        with store.engine.connect() as conn:
            touched = conn.execute(sa.select(blobs.c.touched_at).where(blobs.c.digest == digest))
            assert touched.scalar() == NOW + 100

    def test_pins_protect_a_publication_and_unpin_detects_a_lost_one(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        digest = sha(fresh_name())
        assert store.pin_blob("p1", digest, 3, NOW, 60)  # creates the row, pinned
        assert state(store, digest) == ("live", 0)
        assert mark_all(store, cutoff=NOW + 1) == 0
        assert store.drop_expired_pins(NOW + 61) == 1  # the lease ran out
        assert mark_all(store, cutoff=NOW + 1) == 1
        assert store.unpin_blob("p1", digest, NOW) is False
        assert sweep_all(store, cutoff=NOW + 1) == [digest]
        store.forget_blobs([digest])

    def test_adopt_needs_the_source_link(
        self, store: SqlMetadataStore, repo: Repository, make_repo
    ) -> None:
        digest, target = self.link(store, repo, "m"), make_repo()
        assert store.adopt_blob(target.id, repo.id, digest, NOW) is False  # target lacks it
        mark_all(store)
        assert store.adopt_blob(repo.id, target.id, digest, NOW) is True
        assert state(store, digest) == ("live", 2) and sweep_all(store) == []
        assert store.linked_blob_size(target.id, digest) == 10

    def test_one_lease_holder_at_a_time(self, store: SqlMetadataStore) -> None:
        name = fresh_name("lease")
        assert store.claim_lease(name, "a", NOW, 60)
        assert not store.claim_lease(name, "b", NOW + 30, 60)
        assert store.claim_lease(name, "a", NOW + 30, 60)  # renewal
        assert store.claim_lease(name, "b", NOW + 91, 60)  # a's lease ran out
        store.release_lease(name, "a")  # not a's any more: no effect
        assert not store.claim_lease(name, "a", NOW + 92, 60)
        store.release_lease(name, "b")
        assert store.claim_lease(name, "a", NOW + 92, 60)
        self._drop_lease(store, name)

    def test_racing_lease_claims_have_one_winner(self, store: SqlMetadataStore) -> None:
        name = fresh_name("lease")
        won = run_together(6, lambda i: store.claim_lease(name, f"h{i}", NOW, 60))
        assert won.count(True) == 1
        self._drop_lease(store, name)

    def test_expired_uploads(self, store: SqlMetadataStore, repo: Repository) -> None:
        ids = sorted(f"{i:08d}-0000-4000-8000-000000000000" for i in range(3))
        for i, upload_id in enumerate(ids):
            store.create_upload(Upload(upload_id, repo.id, 0, NOW - i * DAY))
        assert store.expired_uploads(NOW - 0.5 * DAY, "", 10) == ids[1:]
        assert store.expired_uploads(NOW - 0.5 * DAY, ids[1], 10) == ids[2:]
        assert store.drop_upload(ids[1]) and not store.drop_upload(ids[1])
        store.drop_upload(ids[2])
        store.drop_upload(ids[0])

    def test_strays_are_claimed_as_deleting_unless_a_row_appeared(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        rowless, pinned, linked = (sha(fresh_name(label)) for label in ("stray", "pin", "link"))
        store.link_blob(repo.id, linked, 4, OLD)
        assert store.blobs_without_rows([linked, rowless, pinned]) == [rowless, pinned]
        assert store.pin_blob("stray-pin", pinned, 3, NOW, 60)  # an upload got there first
        claims = [BlobClaim(pinned, 3), BlobClaim(rowless, 5)]
        assert store.claim_strays(claims, NOW) == [BlobClaim(rowless, 5)]
        assert state(store, rowless) == ("deleting", 0) and state(store, pinned) == ("live", 0)
        assert store.pin_blob("late-pin", rowless, 5, NOW, 60) is False  # waits for the delete
        assert [c.digest for c in store.deleting(1000)] == [rowless]
        store.forget_blobs([rowless])
        assert store.blobs_without_rows([rowless]) == [rowless]
        assert store.unpin_blob("stray-pin", pinned, NOW)
        with store.engine.begin() as conn:  # the unlinked row would be the collector's next
            conn.execute(sa.delete(blobs).where(blobs.c.digest == pinned))

    def test_uploads_without_rows(self, store: SqlMetadataStore, repo: Repository) -> None:
        recorded, crashed = (f"{i:08d}-1111-4000-8000-000000000000" for i in range(2))
        store.create_upload(Upload(recorded, repo.id, 0, NOW))
        assert store.uploads_without_rows([crashed, recorded]) == [crashed]
        store.drop_upload(recorded)

    def test_storage_use_splits_unique_and_shared(
        self, store: SqlMetadataStore, repo: Repository, make_repo
    ) -> None:
        other = make_repo(account_id=repo.account_id)
        shared, own = make_image("shared"), make_image("own")
        for target, image in ((repo, shared), (other, shared), (repo, own)):
            for digest in image.blob_digests:
                store.link_blob(target.id, digest, 100, OLD)
            store.save_image(target.id, image, None, False, OLD)
        uses = {(u.account_id, u.repository): u for u in store.storage_use()}
        mine = uses[(repo.account_id, repo.name)]
        assert (mine.blobs, mine.total_bytes, mine.unique_bytes) == (4, 400, 200)
        theirs = uses[(repo.account_id, other.name)]
        assert (theirs.blobs, theirs.total_bytes, theirs.unique_bytes) == (2, 200, 0)
        account = uses[(repo.account_id, None)]
        assert (account.blobs, account.total_bytes, account.unique_bytes) == (4, 400, 400)

    def test_push_and_sweep_race_never_leave_a_manifest_on_a_deleting_blob(
        self, store: SqlMetadataStore, repo: Repository
    ) -> None:
        for round_ in range(12):
            digest = self.link(store, repo, f"race{round_}")
            mark_all(store)
            pushed = _race_push_and_sweep(store, repo, digest)
            deleting = state(store, digest)[0] == "deleting"
            assert pushed != deleting, "exactly one of push and sweep must win"
            if deleting:
                store.forget_blobs([digest])

    @staticmethod
    def _drop_lease(store: SqlMetadataStore, name: str) -> None:
        from dockyard.backends.metadata.schema import leases

        with store.engine.begin() as conn:
            conn.execute(sa.delete(leases).where(leases.c.name == name))


def _race_push_and_sweep(store: SqlMetadataStore, repo: Repository, digest: str) -> bool:
    """A push naming `digest` and the sweep's claim of it, released together: pushed?"""
    pushed = threading.Event()

    def push() -> None:
        with store.atomic():
            if not store.hold_blobs([digest], NOW):
                store.save_image(repo.id, _naming(digest), None, False, NOW)
                pushed.set()

    run_together(2, lambda i: push() if i else store.claim_for_deletion("", 10, CUTOFF, NOW))
    return pushed.is_set()


def _naming(digest: str):  # type: ignore[no-untyped-def]
    """An image whose one layer is `digest` (its config is the layer too: enough for refs)."""
    from dataclasses import replace

    return replace(make_image(fresh_name("img")), blob_digests=(digest,))
