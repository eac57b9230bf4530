"""Contract cases for the web console's ports: ConsoleSessionStore and RepositoryOverview."""

from __future__ import annotations

from collections.abc import Callable

from dockyard.domain.models import ConsoleSession, ImageKey, Repository
from dockyard.ports import MetadataStore

from .metadata_support import NOW, fresh_account, make_image

MakeRepo = Callable[..., Repository]


def _session(key: str, expires_at: float) -> ConsoleSession:
    return ConsoleSession(
        key, "123456789012", "arn:aws:iam::123456789012:root", "csrf-" + key[:8], NOW, expires_at
    )


class ConsoleCases:
    def test_sessions_round_trip_expire_and_delete(self, store: MetadataStore) -> None:
        live, stale = _session("a" * 64, NOW + 100), _session("b" * 64, NOW - 1)
        store.create_session(live)
        store.create_session(stale)
        assert store.get_session(live.key) == live
        assert store.delete_sessions_expired(NOW) == 1
        assert store.get_session(stale.key) is None and store.get_session(live.key) == live
        store.delete_session(live.key)
        assert store.get_session(live.key) is None

    def test_repository_summaries_count_store_search_and_page(
        self, store: MetadataStore, make_repo: MakeRepo, account: str
    ) -> None:
        app, web = make_repo("team/app"), make_repo("team/web")
        make_repo("zzz")  # no images: counted as 0, nothing stored, never pushed
        make_repo("team/app", account_id=fresh_account())  # another account: never listed
        for i, repo in enumerate((app, app, web)):
            image = make_image(f"summary {i} {repo.name}")
            for digest in image.blob_digests:
                store.link_blob(repo.id, digest, 1000, NOW)
            store.save_image(repo.id, image, None, True, NOW + i)
        found = store.repository_summaries(account, "", None, 10)
        assert [
            (s.repository.name, s.image_count, s.stored_bytes, s.last_pushed_at) for s in found
        ] == [("team/app", 2, 4000, NOW + 1), ("team/web", 1, 2000, NOW + 2), ("zzz", 0, 0, None)]
        assert [
            s.repository.name for s in store.repository_summaries(account, "web", None, 10)
        ] == ["team/web"]
        assert [
            s.repository.name for s in store.repository_summaries(account, "", "team/app", 1)
        ] == ["team/web"]
        assert store.repository_summaries(account, "%", None, 10) == []  # LIKE is escaped

    def test_images_newest_first_walks_the_listing_backwards(
        self, store: MetadataStore, make_repo: MakeRepo
    ) -> None:
        repo = make_repo()
        saved = [
            store.save_image(
                repo.id, make_image(f"newest {i}"), f"t{i}" if i % 2 else None, True, NOW + i // 2
            ).image
            for i in range(6)
        ]
        expected = sorted(saved, key=lambda i: (i.pushed_at, i.id), reverse=True)
        assert [i.id for i in store.images_newest_first(repo.id, None, 10)] == [
            i.id for i in expected
        ]
        key = ImageKey(expected[1].pushed_at, expected[1].id)
        assert [i.id for i in store.images_newest_first(repo.id, key, 2)] == [
            i.id for i in expected[2:4]
        ]
        tagged = store.images_newest_first(repo.id, None, 10, "TAGGED")
        assert [i.tags for i in tagged] == [("t5",), ("t3",), ("t1",)]
        assert len(store.images_newest_first(repo.id, None, 10, "UNTAGGED")) == 3
        store.set_image_status(repo.id, saved[0].digest, "ARCHIVED", NOW + 9)
        archived = store.images_newest_first(repo.id, None, 10, "ANY", "ARCHIVED")
        assert [i.digest for i in archived] == [saved[0].digest]
        assert len(store.images_newest_first(repo.id, None, 10, "ANY", "ACTIVE")) == 5

    def test_account_storage_counts_a_shared_blob_once(
        self, store: MetadataStore, make_repo: MakeRepo, account: str
    ) -> None:
        first, second = make_repo(), make_repo()
        image = make_image("shared storage")
        for repo in (first, second):
            for digest in image.blob_digests:
                store.link_blob(repo.id, digest, 500, NOW)
            store.save_image(repo.id, image, "v1", True, NOW)
        usage = store.account_storage(account)
        assert (usage.repository_count, usage.image_count, usage.stored_bytes) == (2, 2, 1000)
        assert store.account_storage(fresh_account()).stored_bytes == 0
