"""Contract cases for upload sessions: they move only by compare-and-set on the generation.

Races run on threads released together (as server worker threads, or, on PostgreSQL, as
separate processes would race through the database): of the writers that read one generation,
exactly one may move the session, whatever the backend.
"""

from __future__ import annotations

import pytest

from dockyard.domain.errors import RepositoryNotFound
from dockyard.domain.models import Repository, Upload
from dockyard.ports import MetadataStore

from .metadata_support import NOW, THREADS, fresh_name, run_together, sha

STATE = bytes(range(112))  # a SHA-256 state, as saved


def _new_upload(store: MetadataStore, repo: Repository) -> Upload:
    upload = Upload(id=fresh_name("upload"), repo_id=repo.id, size=0, created_at=NOW)
    store.create_upload(upload)
    return upload


class UploadCases:
    def test_upload_lifecycle(self, store: MetadataStore, repo: Repository) -> None:
        upload = _new_upload(store, repo)
        assert store.get_upload(upload.id) == upload
        first = store.advance_upload(upload, 1234, "seg-a", STATE)
        assert first == Upload(upload.id, repo.id, 1234, NOW, STATE, 1, ("seg-a",))
        assert store.get_upload(upload.id) == first
        second = store.advance_upload(first, 3000, "seg-b")  # no state: the old one goes
        assert second == Upload(upload.id, repo.id, 3000, NOW, None, 2, ("seg-a", "seg-b"))
        assert store.get_upload(upload.id) == second
        store.delete_upload(upload.id)
        assert store.get_upload(upload.id) is None

    def test_advancing_from_a_stale_generation_changes_nothing(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        upload = _new_upload(store, repo)
        moved = store.advance_upload(upload, 10, "seg-a", STATE)
        assert moved is not None
        assert store.advance_upload(upload, 20, "seg-b") is None  # read before `moved`
        assert store.get_upload(upload.id) == moved
        store.delete_upload(upload.id)
        assert store.advance_upload(moved, 30, "seg-c") is None  # gone

    def test_one_of_racing_writers_advances_the_upload(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        upload = _new_upload(store, repo)
        outcomes = run_together(
            THREADS, lambda i: store.advance_upload(upload, 100 + i, f"seg-{i}")
        )
        assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
        winners = [o for o in outcomes if isinstance(o, Upload)]
        assert len(winners) == 1
        assert store.get_upload(upload.id) == winners[0]
        assert winners[0].generation == 1 and len(winners[0].segments) == 1

    def test_finish_upload_links_the_blob_and_ends_the_upload(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        upload = store.advance_upload(_new_upload(store, repo), 42, "seg-a")
        assert upload is not None
        assert store.finish_upload(upload.id, repo.id, sha("finished"), 42, NOW, 1) is True
        assert store.get_upload(upload.id) is None
        assert store.linked_blob_size(repo.id, sha("finished")) == 42

    def test_finishing_a_stale_generation_links_nothing(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        upload = _new_upload(store, repo)
        store.advance_upload(upload, 5, "seg-a")
        assert store.finish_upload(upload.id, repo.id, sha("stale"), 0, NOW, 0) is False
        assert store.linked_blob_size(repo.id, sha("stale")) is None
        assert store.get_upload(upload.id) is not None
        store.delete_upload(upload.id)

    def test_one_of_racing_completions_finishes(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        upload = _new_upload(store, repo)
        outcomes = run_together(
            THREADS,
            lambda i: store.finish_upload(upload.id, repo.id, sha(f"racer-{i}"), i, NOW, 0),
        )
        assert sorted(map(repr, outcomes)) == ["False"] * (THREADS - 1) + ["True"]
        linked = [i for i in range(THREADS) if store.linked_blob_size(repo.id, sha(f"racer-{i}"))
                  is not None or outcomes[i] is True]  # fmt: skip
        assert linked == [outcomes.index(True)]

    def test_a_session_taken_by_repository_deletion_does_not_finish(
        self, store: MetadataStore, make_repo
    ) -> None:
        doomed = make_repo()
        upload = _new_upload(store, doomed)
        store.delete_repository(doomed.id)
        assert store.finish_upload(upload.id, doomed.id, sha("late"), 4, NOW, 0) is False
        assert store.linked_blob_size(doomed.id, sha("late")) is None

    def test_linking_into_a_deleted_repository_is_repository_not_found(
        self, store: MetadataStore, make_repo
    ) -> None:
        doomed = make_repo()
        store.delete_repository(doomed.id)
        with pytest.raises(RepositoryNotFound):
            store.finish_upload(fresh_name("upload"), doomed.id, sha("late"), 4, NOW)

    def test_finishing_races_repository_deletion_cleanly(
        self, store: MetadataStore, make_repo
    ) -> None:
        # Either the upload finishes first (and the deletion takes its link with it) or the
        # deletion takes the session first (and finishing links nothing): never an error.
        for round_ in range(6):
            doomed = make_repo()
            upload = _new_upload(store, doomed)

            def work(
                i: int, doomed: Repository = doomed, upload: Upload = upload, round_: int = round_
            ) -> object:
                if i == 0:
                    return store.delete_repository(doomed.id)
                return store.finish_upload(upload.id, doomed.id, sha(f"r{round_}"), 1, NOW, 0)

            outcomes = run_together(2, work)
            assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
            assert store.get_upload(upload.id) is None
            assert store.linked_blob_size(doomed.id, sha(f"r{round_}")) is None

    def test_unknown_upload_is_none(self, store: MetadataStore) -> None:
        assert store.get_upload(fresh_name("upload")) is None
