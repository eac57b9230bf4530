"""Contract cases for images and tags; mixed into MetadataStoreContract (fixtures live there)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from dockyard.domain.errors import TagImmutable
from dockyard.domain.models import Image, Repository
from dockyard.ports import MetadataStore

from .metadata_support import NOW, OCI_INDEX, OCI_MANIFEST, make_image, sha


def _get(store: MetadataStore, repo: Repository, digest: str, manifest: bool = False) -> Image:
    image = store.get_image(repo.id, digest, with_manifest=manifest)
    assert image is not None, f"{digest} missing"
    return image


class ImageCases:
    def test_save_image_creates_record(self, store: MetadataStore, repo: Repository) -> None:
        new = make_image("a", artifact_type="application/vnd.example")
        saved = store.save_image(repo.id, new, "v1", False, NOW)
        assert (saved.created, saved.untagged_image_id) == (True, None)
        image = saved.image
        assert (image.repo_id, image.digest, image.tags) == (repo.id, new.digest, ("v1",))
        assert (image.media_type, image.artifact_media_type) == (
            OCI_MANIFEST,
            new.artifact_media_type,
        )
        assert (image.size_bytes, image.pushed_at, image.last_pulled_at) == (1000, NOW, None)
        assert (image.status, image.archived_at, image.activated_at) == ("ACTIVE", None, None)
        assert image.subject_digest is None
        assert _get(store, repo, new.digest) == replace(image, manifest=None)

    def test_manifest_is_loaded_only_on_request(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        new = make_image("a")
        store.save_image(repo.id, new, "v1", False, NOW)
        assert _get(store, repo, new.digest).manifest is None
        assert _get(store, repo, new.digest, manifest=True).manifest == new.manifest
        assert store.get_image_by_tag(repo.id, "v1").manifest is None  # type: ignore[union-attr]
        by_tag = store.get_image_by_tag(repo.id, "v1", with_manifest=True)
        assert by_tag is not None and by_tag.manifest == new.manifest

    def test_unknown_images_are_none(
        self, store: MetadataStore, repo: Repository, make_repo: Callable[[], Repository]
    ) -> None:
        new = make_image("a")
        store.save_image(repo.id, new, "v1", False, NOW)
        other = make_repo()
        assert store.get_image(other.id, new.digest) is None
        assert store.get_image(repo.id, sha("nothing")) is None
        assert store.get_image_by_tag(repo.id, "v2") is None
        assert store.get_image_by_tag(other.id, "v1") is None

    def test_save_without_tag(self, store: MetadataStore, repo: Repository) -> None:
        saved = store.save_image(repo.id, make_image("a"), None, False, NOW)
        assert saved.created and saved.image.tags == ()
        assert store.list_tags(repo.id, None, None) == []

    def test_saving_a_digest_again_keeps_the_row(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        new = make_image("a")
        first = store.save_image(repo.id, new, "v1", False, NOW)
        again = store.save_image(repo.id, new, "v2", False, NOW + 100)
        assert (again.created, again.untagged_image_id) == (False, None)
        assert again.image.id == first.image.id
        assert again.image.pushed_at == NOW
        assert again.image.tags == ("v1", "v2")
        assert len(store.images_by_digests(repo.id, [new.digest])) == 1

    def test_images_by_digests(self, store: MetadataStore, repo: Repository) -> None:
        a, b, c = make_image("a"), make_image("b"), make_image("c")
        for new, tag in ((a, "ta"), (b, None), (c, "tc")):
            store.save_image(repo.id, new, tag, False, NOW)
        asked = [c.digest, sha("missing"), a.digest, c.digest, b.digest]
        found = store.images_by_digests(repo.id, asked)
        assert [i.digest for i in found] == [c.digest, a.digest, b.digest]
        assert [i.tags for i in found] == [("tc",), ("ta",), ()]
        assert store.images_by_digests(repo.id, []) == []

    def test_parents_of(
        self, store: MetadataStore, repo: Repository, make_repo: Callable[[], Repository]
    ) -> None:
        child = make_image("child")
        store.save_image(repo.id, child, None, False, NOW)
        first = make_image("i1", children=[child.digest])
        second = make_image("i2", children=[child.digest, sha("other")])
        store.save_image(repo.id, first, None, False, NOW + 1)
        store.save_image(repo.id, second, None, False, NOW + 2)
        other = make_repo()
        store.save_image(other.id, make_image("i3", children=[child.digest]), None, False, NOW)
        assert store.parents_of(repo.id, child.digest) == [first.digest, second.digest]
        assert store.parents_of(repo.id, sha("other")) == [second.digest]
        # Config and layer references are not parents.
        assert store.parents_of(repo.id, child.blob_digests[0]) == []
        assert _get(store, repo, first.digest).media_type == OCI_INDEX

    def test_delete_image(self, store: MetadataStore, repo: Repository) -> None:
        a, b = make_image("a"), make_image("b")
        store.save_image(repo.id, a, "latest", False, NOW)
        store.save_image(repo.id, b, "b", False, NOW)
        store.save_image(repo.id, a, "v1", False, NOW)
        assert store.delete_image(repo.id, a.digest) is True
        assert store.get_image(repo.id, a.digest) is None
        assert store.list_tags(repo.id, None, None) == ["b"]
        assert store.delete_image(repo.id, a.digest) is False
        assert _get(store, repo, b.digest).tags == ("b",)

    def test_deleting_an_index_drops_its_references(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        child = make_image("child")
        index = make_image("index", children=[child.digest])
        store.save_image(repo.id, child, None, False, NOW)
        store.save_image(repo.id, index, None, False, NOW)
        assert store.delete_image(repo.id, index.digest)
        assert store.parents_of(repo.id, child.digest) == []
        assert _get(store, repo, child.digest).digest == child.digest

    def test_referrers(
        self, store: MetadataStore, repo: Repository, make_repo: Callable[[], Repository]
    ) -> None:
        subject = make_image("subject")
        store.save_image(repo.id, subject, None, False, NOW)
        sig = make_image("sig", subject=subject.digest, artifact_type="application/sig")
        sbom = make_image("sbom", subject=subject.digest, artifact_type="application/sbom")
        tie = make_image("tie", subject=subject.digest)
        store.save_image(repo.id, sbom, "sbom", False, NOW + 2)
        store.save_image(repo.id, sig, None, False, NOW + 1)
        store.save_image(repo.id, tie, None, False, NOW + 2)  # same time: id breaks the tie
        store.save_image(repo.id, make_image("x", subject=sha("else")), None, False, NOW)
        store.save_image(make_repo().id, make_image("y", subject=subject.digest), None, False, NOW)
        found = store.referrers(repo.id, subject.digest)
        assert [i.digest for i in found] == [sig.digest, sbom.digest, tie.digest]
        assert [i.manifest for i in found] == [sig.manifest, sbom.manifest, tie.manifest]
        assert found[0].artifact_media_type == "application/sig"
        assert {i.subject_digest for i in found} == {subject.digest}
        assert found[1].tags == ("sbom",)
        assert store.referrers(repo.id, sha("nobody")) == []

    def test_record_pulls_never_moves_backwards(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        a = store.save_image(repo.id, make_image("a"), None, False, NOW).image
        b = store.save_image(repo.id, make_image("b"), None, False, NOW).image
        store.record_pulls({a.id: NOW + 10})
        store.record_pulls({a.id: NOW + 5})
        assert _get(store, repo, a.digest).last_pulled_at == NOW + 10
        store.record_pulls({a.id: NOW + 20, b.id: NOW + 7})
        assert _get(store, repo, a.digest).last_pulled_at == NOW + 20
        assert _get(store, repo, b.digest).last_pulled_at == NOW + 7
        store.record_pulls({})

    def test_record_pulls_ignores_vanished_images(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        a = store.save_image(repo.id, make_image("a"), None, False, NOW).image
        b = store.save_image(repo.id, make_image("b"), None, False, NOW).image
        store.delete_image(repo.id, a.digest)
        store.record_pulls({a.id: NOW + 1, b.id: NOW + 2, a.id + b.id + 1000: NOW})
        assert _get(store, repo, b.digest).last_pulled_at == NOW + 2
        assert store.get_image(repo.id, a.digest) is None


class TagCases:
    def test_tag_move_leaves_previous_image_untagged(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        a, b = make_image("a"), make_image("b")
        old = store.save_image(repo.id, a, "latest", True, NOW).image
        moved = store.save_image(repo.id, b, "latest", True, NOW + 1)
        assert moved.untagged_image_id == old.id
        assert _get(store, repo, a.digest).tags == ()
        by_tag = store.get_image_by_tag(repo.id, "latest")
        assert by_tag is not None and by_tag.digest == b.digest

    def test_tag_move_from_image_with_other_tags(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        a, b = make_image("a"), make_image("b")
        store.save_image(repo.id, a, "latest", True, NOW)
        store.save_image(repo.id, a, "v1", True, NOW)
        assert store.save_image(repo.id, b, "latest", True, NOW).untagged_image_id is None
        assert _get(store, repo, a.digest).tags == ("v1",)

    def test_same_tag_same_image_is_allowed_when_immutable(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        a = make_image("a")
        store.save_image(repo.id, a, "v1", False, NOW)
        saved = store.save_image(repo.id, a, "v1", False, NOW + 1)
        assert (saved.created, saved.untagged_image_id, saved.image.tags) == (False, None, ("v1",))

    def test_tag_immutable_rolls_back_everything(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        a, child = make_image("a"), make_image("child")
        index = make_image("index", children=[child.digest])
        store.save_image(repo.id, a, "v1", False, NOW)
        with pytest.raises(TagImmutable) as raised:
            store.save_image(repo.id, index, "v1", False, NOW + 1)
        assert raised.value.message == (
            f"The image tag 'v1' already exists in the '{repo.name}' repository and cannot be "
            "overwritten because the repository is immutable."
        )
        assert store.get_image(repo.id, index.digest) is None
        assert store.parents_of(repo.id, child.digest) == []
        assert _get(store, repo, a.digest).tags == ("v1",)
        assert store.list_tags(repo.id, None, None) == ["v1"]

    def test_tag_immutable_on_existing_image_changes_nothing(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        a, b = make_image("a"), make_image("b")
        store.save_image(repo.id, a, "v1", False, NOW)
        before = store.save_image(repo.id, b, "v2", False, NOW).image
        with pytest.raises(TagImmutable):
            store.save_image(repo.id, b, "v1", False, NOW + 1)
        assert _get(store, repo, b.digest) == replace(before, manifest=None)
        assert _get(store, repo, a.digest).tags == ("v1",)

    def test_tags_are_sorted_on_every_read(self, store: MetadataStore, repo: Repository) -> None:
        subject = make_image("subject")
        store.save_image(repo.id, subject, None, False, NOW)
        new = make_image("a", subject=subject.digest)
        names = ["b", "a", "B", "a-1", "a.1", "a_1", "a1"]
        for name in names:
            store.save_image(repo.id, new, name, False, NOW)
        expected = tuple(sorted(names))
        assert _get(store, repo, new.digest).tags == expected
        assert store.images_by_digests(repo.id, [new.digest])[0].tags == expected
        assert store.get_image_by_tag(repo.id, "a").tags == expected  # type: ignore[union-attr]
        assert store.referrers(repo.id, subject.digest)[0].tags == expected

    def test_delete_tag(self, store: MetadataStore, repo: Repository) -> None:
        a = make_image("a")
        store.save_image(repo.id, a, "v1", False, NOW)
        assert store.delete_tag(repo.id, "v1") is True
        assert store.delete_tag(repo.id, "v1") is False
        assert store.get_image_by_tag(repo.id, "v1") is None
        assert _get(store, repo, a.digest).tags == ()

    def test_list_tags_sorted_and_paged(
        self, store: MetadataStore, repo: Repository, make_repo: Callable[[], Repository]
    ) -> None:
        names = ["v10", "v2", "latest", "Latest", "v1.0", "v1-rc", "v1_0", "1", "v1"]
        for i, name in enumerate(names):
            store.save_image(repo.id, make_image(f"img{i % 3}"), name, False, NOW)
        store.save_image(make_repo().id, make_image("x"), "elsewhere", False, NOW)
        expected = sorted(names)
        assert store.list_tags(repo.id, None, None) == expected
        assert store.list_tags(repo.id, None, 2) == expected[:2]
        assert store.list_tags(repo.id, "v1", None) == [n for n in expected if n > "v1"]
        assert store.list_tags(repo.id, "v2", 5) == []
        pages: list[str] = []
        while page := store.list_tags(repo.id, pages[-1] if pages else None, 4):
            pages += page
        assert pages == expected
