"""Contract cases for `atomic()`: the store calls of a block are one write transaction."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from dockyard.domain.models import Image, Repository
from dockyard.ports import MetadataStore

from .metadata_support import NOW, make_image, sha


def _on_another_thread(store: MetadataStore, repo: Repository, digest: str) -> Image | None:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(store.get_image, repo.id, digest).result(timeout=30)


class AtomicCases:
    def test_a_block_commits_its_calls_together(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        a, b = make_image("a"), make_image("b")
        with store.atomic():
            store.save_image(repo.id, a, "v1", True, NOW)
            inside = store.get_image_by_tag(repo.id, "v1")
            # Another thread's call is not part of the block: it sees nothing uncommitted.
            outside = _on_another_thread(store, repo, a.digest)
            store.save_image(repo.id, b, "v2", True, NOW + 1)
        assert inside is not None and inside.digest == a.digest
        assert outside is None
        found = store.images_by_digests(repo.id, [a.digest, b.digest])
        assert [(i.digest, i.tags) for i in found] == [(a.digest, ("v1",)), (b.digest, ("v2",))]

    def test_a_block_that_raises_leaves_nothing(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        new = make_image("a")
        with pytest.raises(RuntimeError, match="abandoned"), store.atomic():
            store.link_blob(repo.id, sha("blob"), 7, NOW)
            store.save_image(repo.id, new, "v1", True, NOW)
            raise RuntimeError("abandoned")
        assert store.get_image(repo.id, new.digest) is None
        assert store.list_tags(repo.id, None, None) == []
        assert store.linked_blob_size(repo.id, sha("blob")) is None

    def test_a_nested_block_joins_the_outer_one(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        new = make_image("a")
        with pytest.raises(RuntimeError, match="outer"), store.atomic():
            with store.atomic():
                store.save_image(repo.id, new, "v1", True, NOW)
            # The inner block's end committed nothing of its own.
            assert _on_another_thread(store, repo, new.digest) is None
            raise RuntimeError("outer")
        assert store.get_image(repo.id, new.digest) is None

    def test_calls_after_a_block_are_their_own_transactions_again(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        with store.atomic():
            store.save_image(repo.id, make_image("a"), "v1", True, NOW)
        new = make_image("b")
        store.save_image(repo.id, new, "v2", True, NOW)
        assert _on_another_thread(store, repo, new.digest) is not None
