"""Contract cases for writers racing on threads; every backend must serialise them correctly.

Each thread uses the store as a server worker thread would: same store object, its own calls.
No exception may escape ("database is locked", unique violations) except the domain errors the
port promises.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from dockyard.domain.errors import RepositoryAlreadyExists, TagImmutable
from dockyard.domain.models import ImageKey, Repository, SavedImage
from dockyard.ports import MetadataStore

from .metadata_support import NOW, THREADS, make_image, run_together, sha, walk


def _saved(outcomes: list[object]) -> list[SavedImage]:
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert not errors, f"concurrent writers failed: {errors!r}"
    return [o for o in outcomes if isinstance(o, SavedImage)]


class ConcurrencyCases:
    def test_concurrent_saves_of_one_digest(self, store: MetadataStore, repo: Repository) -> None:
        new = make_image("same")
        saved = _saved(
            run_together(
                THREADS, lambda i: store.save_image(repo.id, new, "latest", False, NOW + i)
            )
        )
        assert sum(s.created for s in saved) == 1
        assert len({s.image.id for s in saved}) == 1
        assert {s.untagged_image_id for s in saved} == {None}
        [image] = store.images_by_digests(repo.id, [new.digest])
        assert image.tags == ("latest",)

    def test_concurrent_saves_moving_one_tag(self, store: MetadataStore, repo: Repository) -> None:
        news = [make_image(f"racer{i}") for i in range(THREADS)]
        saved = _saved(
            run_together(THREADS, lambda i: store.save_image(repo.id, news[i], "latest", True, NOW))
        )
        assert all(s.created for s in saved)
        found = store.images_by_digests(repo.id, [n.digest for n in news])
        assert len(found) == THREADS
        tagged = [i for i in found if i.tags]
        assert len(tagged) == 1 and tagged[0].tags == ("latest",)
        # The tag moved THREADS - 1 times, each move untagging the image it left.
        untagged = [s.untagged_image_id for s in saved if s.untagged_image_id is not None]
        assert len(untagged) == len(set(untagged)) == THREADS - 1
        assert tagged[0].id not in untagged

    def test_concurrent_immutable_tag_has_one_winner(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        news = [make_image(f"racer{i}") for i in range(THREADS)]
        outcomes = run_together(
            THREADS, lambda i: store.save_image(repo.id, news[i], "v1", False, NOW)
        )
        kinds = Counter(type(o) for o in outcomes)
        assert kinds == Counter({SavedImage: 1, TagImmutable: THREADS - 1}), outcomes
        [winner] = [o for o in outcomes if isinstance(o, SavedImage)]
        found = store.images_by_digests(repo.id, [n.digest for n in news])
        assert [i.digest for i in found] == [winner.image.digest]

    def test_concurrent_blob_links(
        self, store: MetadataStore, make_repo: Callable[[], Repository]
    ) -> None:
        repos = [make_repo() for _ in range(THREADS)]
        outcomes = run_together(
            THREADS, lambda i: store.link_blob(repos[i % 2].id, sha("shared"), 42, NOW)
        )
        assert outcomes == [None] * THREADS
        assert [store.linked_blob_size(r.id, sha("shared")) for r in repos[:3]] == [42, 42, None]

    def test_concurrent_pulls_keep_the_latest(self, store: MetadataStore, repo: Repository) -> None:
        image = store.save_image(repo.id, make_image("a"), None, False, NOW).image
        times = [NOW + (i * 5) % THREADS for i in range(THREADS)]
        outcomes = run_together(THREADS, lambda i: store.record_pulls({image.id: times[i]}))
        assert outcomes == [None] * THREADS
        [found] = store.images_by_digests(repo.id, [image.digest])
        assert found.last_pulled_at == max(times)

    def test_concurrent_repository_creation(
        self, store: MetadataStore, make_repo: Callable[..., Repository]
    ) -> None:
        outcomes = run_together(THREADS, lambda i: _try_create(make_repo))
        assert sum(isinstance(o, Repository) for o in outcomes) == 1, outcomes
        assert sum(o == "exists" for o in outcomes) == THREADS - 1

    def test_listing_while_a_writer_pushes_and_deletes(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        initial = [
            store.save_image(repo.id, make_image(f"i{n}"), None, False, NOW + n // 4).image
            for n in range(40)
        ]
        doomed = initial[::5]
        survivors = {i.id for i in initial} - {i.id for i in doomed}

        def write() -> None:  # pushes land before, at and after any cursor; deletes thin it out
            for n in range(60):
                store.save_image(repo.id, make_image(f"w{n}"), f"w{n}", True, NOW + n % 12)
                if doomed and n % 2:
                    store.delete_image(repo.id, doomed.pop().digest)

        with ThreadPoolExecutor(1) as pool:
            writer = pool.submit(write)
            while True:
                done = writer.done()
                seen = walk(
                    lambda after: store.list_images(repo.id, after, 3),
                    lambda i: ImageKey(i.pushed_at, i.id),
                )
                found = [i.id for i in seen]
                assert len(found) == len(set(found)), "an image was listed twice"
                assert survivors <= set(found), "an image that existed throughout was skipped"
                if done:
                    break
            writer.result()  # the writer's own failure, if any


def _try_create(make_repo: Callable[..., Repository]) -> Repository | str:
    try:
        return make_repo("contested")
    except RepositoryAlreadyExists:
        return "exists"
