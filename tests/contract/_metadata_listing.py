"""Contract cases for the paged image views (ImageListing) and the lookups beside them.

Keyset pages must hold up while the repository changes between them: no image (or entry) is
listed twice, and nothing that existed, matching the filter, for the whole listing is skipped.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from dockyard.domain.models import Image, ImageEntry, ImageEntryKey, ImageKey, Repository
from dockyard.ports import MetadataStore

from .metadata_support import NOW, make_image, sha, walk

MakeRepo = Callable[..., Repository]

#: Pages between which the repository changes; writers must pause for a listing to reach its end
#: (a push at the cursor's own time always lands just ahead of it).
CHANGING_PAGES = 8
#: More pages than any listing here needs: a listing that does not end fails instead of hanging.
MAX_PAGES = 60


def push(store: MetadataStore, repo: Repository, label: str, at: float, *tags: str) -> Image:
    """Store an image pushed at `at` with `tags` (none: untagged); the stored record."""
    new = make_image(label)
    saved = store.save_image(repo.id, new, tags[0] if tags else None, True, at)
    for tag in tags[1:]:
        saved = store.save_image(repo.id, new, tag, True, at)
    return saved.image


def image_key(image: Image) -> ImageKey:
    return ImageKey(image.pushed_at, image.id)


def entry_key(entry: ImageEntry) -> ImageEntryKey:
    return entry.key


def ids(found: list[Image]) -> list[int]:
    return [image.id for image in found]


def in_key_order(found: list[Image]) -> list[int]:
    return [image.id for image in sorted(found, key=lambda i: (i.pushed_at, i.id))]


def entries_of(found: list[Image]) -> list[tuple[int, str | None]]:
    """The (image id, tag) entries ListImages shows for `found`, in key order."""
    pairs = [(i, t) for i in found for t in (i.tags or (None,))]
    pairs.sort(key=lambda p: (p[0].pushed_at, p[0].id, p[1] or ""))
    return [(image.id, tag) for image, tag in pairs]


def pairs(found: list[ImageEntry]) -> list[tuple[int, str | None]]:
    return [(entry.image.id, entry.tag) for entry in found]


class ImageListingCases:
    def test_list_images_in_key_order(
        self, store: MetadataStore, repo: Repository, make_repo: MakeRepo
    ) -> None:
        times = [NOW + 2, NOW, NOW + 1, NOW, NOW + 2, NOW]  # ties: id decides
        made = [
            push(store, repo, f"i{n}", t, *(["v", "a"] if n == 2 else []))
            for n, t in enumerate(times)
        ]
        push(store, make_repo(), "elsewhere", NOW)
        listed = store.list_images(repo.id, None, 100)
        assert ids(listed) == in_key_order(made)
        # Every field as a direct lookup returns it, tags sorted.
        assert listed == [store.get_image(repo.id, image.digest) for image in listed]
        assert next(i for i in listed if i.id == made[2].id).tags == ("a", "v")

    def test_list_images_pages_strictly_after_the_key(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        made = [push(store, repo, f"i{n}", NOW + n // 3) for n in range(8)]
        expected = in_key_order(made)
        for limit in (1, 2, 3, 7, 8, 100):
            paged = walk(lambda after, n=limit: store.list_images(repo.id, after, n), image_key)
            assert ids(paged) == expected
        assert ids(store.list_images(repo.id, image_key(made[3]), 2)) == expected[4:6]
        assert store.list_images(repo.id, image_key(made[-1]), 10) == []
        # A key no image has (one deleted since) still marks a place.
        between = ImageKey(NOW + 1, made[2].id)
        assert ids(store.list_images(repo.id, between, 100)) == expected[3:]
        assert ids(store.list_images(repo.id, ImageKey(NOW + 0.5, 0), 100)) == expected[3:]

    def test_list_images_by_tag_status(self, store: MetadataStore, repo: Repository) -> None:
        tagged = [push(store, repo, "t1", NOW, "v1"), push(store, repo, "t2", NOW + 2, "b", "a")]
        untagged = [push(store, repo, "u1", NOW + 1), push(store, repo, "u2", NOW + 3)]
        moved = push(store, repo, "m", NOW + 4, "v2")
        push(store, repo, "m2", NOW + 5, "v2")  # leaves `moved` untagged
        everything = store.list_images(repo.id, None, 100, "ANY")
        assert len(everything) == 6
        got_tagged = store.list_images(repo.id, None, 100, "TAGGED")
        assert ids(got_tagged) == [i.id for i in everything if i.tags]
        assert set(ids(got_tagged)) >= set(ids(tagged))
        got_untagged = store.list_images(repo.id, None, 100, "UNTAGGED")
        assert ids(got_untagged) == in_key_order([*untagged, moved])
        assert ids(store.list_images(repo.id, image_key(untagged[0]), 1, "UNTAGGED")) == [
            untagged[1].id
        ]

    def test_list_images_by_image_status(self, store: MetadataStore, repo: Repository) -> None:
        made = [push(store, repo, f"i{n}", NOW + n, *(["v"] if n == 1 else [])) for n in range(5)]
        store.set_image_status(repo.id, made[1].digest, "ARCHIVED", NOW + 10)
        store.set_image_status(repo.id, made[3].digest, "ARCHIVED", NOW + 10)
        store.set_image_status(repo.id, made[4].digest, "ACTIVATING", NOW + 10)

        def listed(status: str, tag_status: str = "ANY") -> list[int]:
            return ids(store.list_images(repo.id, None, 100, tag_status, status))

        assert listed("ACTIVE") == [made[0].id, made[2].id]
        assert listed("ARCHIVED") == [made[1].id, made[3].id]
        assert listed("ACTIVATING") == [made[4].id]
        assert listed("ANY") == ids(made) == ids(store.list_images(repo.id, None, 100))
        assert listed("ARCHIVED", "TAGGED") == [made[1].id]
        assert listed("ARCHIVED", "UNTAGGED") == [made[3].id]
        paged = walk(
            lambda after: store.list_images(repo.id, after, 1, "ANY", "ARCHIVED"), image_key
        )
        assert ids(paged) == [made[1].id, made[3].id]

    def test_list_images_pages_survive_pushes_and_deletes(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        initial = [push(store, repo, f"i{n}", NOW + n // 3) for n in range(24)]
        doomed = [initial[k] for k in (1, 2, 5, 6, 13, 20, 23)]
        survivors = {i.id for i in initial} - {i.id for i in doomed}
        rng, seen, after, step = random.Random(7), [], None, 0
        while page := store.list_images(repo.id, after, 3):
            seen += page
            after = image_key(page[-1])
            step += 1
            assert step < MAX_PAGES, "the listing never ends"
            if step > CHANGING_PAGES:
                continue
            # Between pages: a push at the current key's time (same second), one later, one
            # earlier than the key, and a delete of an image seen or not yet seen.
            push(store, repo, f"same{step}", after.pushed_at)
            push(store, repo, f"later{step}", NOW + 10 + step)
            push(store, repo, f"earlier{step}", NOW - step)
            if doomed:
                store.delete_image(repo.id, doomed.pop(rng.randrange(len(doomed))).digest)
        assert len(ids(seen)) == len(set(ids(seen))), "an image was listed twice"
        assert survivors <= set(ids(seen)), "an image that existed throughout was skipped"
        assert ids(seen) == in_key_order(seen)

    def test_filtered_pages_survive_changes(self, store: MetadataStore, repo: Repository) -> None:
        initial = [push(store, repo, f"i{n}", NOW + n // 2, f"t{n}") for n in range(20)]
        changing = [initial[k] for k in (0, 3, 4, 9, 10, 15, 19)]
        steady = {i.id for i in initial} - {i.id for i in changing}
        seen: list[Image] = []
        after = None
        while page := store.list_images(repo.id, after, 4, "TAGGED", "ACTIVE"):
            seen += page
            after = image_key(page[-1])
            assert len(seen) < MAX_PAGES * 4, "the listing never ends"
            if len(seen) > CHANGING_PAGES * 4:
                continue
            # Between pages: one image leaves the filter by losing its tag, one by being
            # archived, and a new tagged image arrives at the key's own push time.
            if changing:
                store.delete_tag(repo.id, changing.pop().tags[0])
            if changing:
                store.set_image_status(repo.id, changing.pop().digest, "ARCHIVED", NOW + 50)
            push(store, repo, f"new{len(seen)}", after.pushed_at, f"n{len(seen)}")
        assert len(ids(seen)) == len(set(ids(seen)))
        assert steady <= set(ids(seen))
        assert all(i.tags and i.status == "ACTIVE" for i in seen)

    def test_images_by_tags(
        self, store: MetadataStore, repo: Repository, make_repo: MakeRepo
    ) -> None:
        a = push(store, repo, "a", NOW, "v2", "latest", "v1")
        b = push(store, repo, "b", NOW, "b1")
        push(store, make_repo(), "elsewhere", NOW, "other")
        found = store.images_by_tags(repo.id, ["v1", "missing", "b1", "latest", "other", "v1"])
        assert set(found) == {"v1", "b1", "latest"}
        assert found["v1"] == found["latest"] == store.get_image(repo.id, a.digest)
        assert found["v1"].tags == ("latest", "v1", "v2")
        assert found["b1"].id == b.id and found["b1"].manifest is None
        assert store.images_by_tags(repo.id, []) == {}

    def test_images_by_digests_with_manifest(self, store: MetadataStore, repo: Repository) -> None:
        new = make_image("a")
        store.save_image(repo.id, new, "v1", False, NOW)
        [plain] = store.images_by_digests(repo.id, [new.digest])
        [full] = store.images_by_digests(repo.id, [new.digest], with_manifest=True)
        assert plain.manifest is None and full.manifest == new.manifest
        assert full.tags == ("v1",)

    def test_set_image_status_times(self, store: MetadataStore, repo: Repository) -> None:
        image = push(store, repo, "a", NOW, "v1")
        archived = store.set_image_status(repo.id, image.digest, "ARCHIVED", NOW + 1)
        assert archived is not None and archived.tags == ("v1",)
        assert (archived.status, archived.archived_at, archived.activated_at) == (
            "ARCHIVED",
            NOW + 1,
            None,
        )
        again = store.set_image_status(repo.id, image.digest, "ARCHIVED", NOW + 2)
        assert again is not None and again.archived_at == NOW + 1  # no change, no new time
        activating = store.set_image_status(repo.id, image.digest, "ACTIVATING", NOW + 3)
        assert activating is not None
        assert (activating.status, activating.archived_at, activating.activated_at) == (
            "ACTIVATING",
            NOW + 1,
            None,
        )
        active = store.set_image_status(repo.id, image.digest, "ACTIVE", NOW + 4)
        assert active is not None
        assert (active.status, active.archived_at, active.activated_at) == (
            "ACTIVE",
            NOW + 1,
            NOW + 4,
        )
        still = store.set_image_status(repo.id, image.digest, "ACTIVE", NOW + 5)
        assert still is not None and still.activated_at == NOW + 4
        assert store.get_image(repo.id, image.digest) == still

    def test_set_image_status_of_missing_image(
        self, store: MetadataStore, repo: Repository, make_repo: MakeRepo
    ) -> None:
        image = push(store, repo, "a", NOW)
        assert store.set_image_status(repo.id, sha("missing"), "ARCHIVED", NOW) is None
        assert store.set_image_status(make_repo().id, image.digest, "ARCHIVED", NOW) is None
        found = store.get_image(repo.id, image.digest)
        assert found is not None and found.status == "ACTIVE"


class EntryListingCases:
    def test_list_image_entries(
        self, store: MetadataStore, repo: Repository, make_repo: MakeRepo
    ) -> None:
        made = [
            push(store, repo, "a", NOW + 1, "b", "a"),
            push(store, repo, "u", NOW),
            push(store, repo, "c", NOW + 1, "z"),
            push(store, repo, "d", NOW, "x", "B", "y"),
            push(store, repo, "v", NOW + 2),
        ]
        push(store, make_repo(), "elsewhere", NOW, "other")
        found = store.list_image_entries(repo.id, None, 100)
        assert pairs(found) == entries_of([store.get_image(repo.id, i.digest) for i in made])
        for entry in found:
            assert entry.image == store.get_image(repo.id, entry.image.digest)
        untagged = next(e for e in found if e.image.id == made[1].id)
        assert (untagged.tag, untagged.key) == (None, ImageEntryKey(NOW, made[1].id, ""))
        assert found[-1].key == ImageEntryKey(NOW + 2, made[4].id, "")

    def test_list_image_entries_pages(self, store: MetadataStore, repo: Repository) -> None:
        push(store, repo, "a", NOW, "t3", "t1", "t2")
        push(store, repo, "u", NOW)
        push(store, repo, "b", NOW + 1, "only")
        expected = pairs(store.list_image_entries(repo.id, None, 100))
        assert len(expected) == 5
        for limit in (1, 2, 3, 4, 5, 6):
            paged = walk(
                lambda after, n=limit: store.list_image_entries(repo.id, after, n), entry_key
            )
            assert pairs(paged) == expected
        middle = store.list_image_entries(repo.id, None, 2)[-1].key  # inside the first image
        assert pairs(store.list_image_entries(repo.id, middle, 100)) == expected[2:]

    @pytest.mark.parametrize("tag_status", ["TAGGED", "UNTAGGED"])
    def test_list_image_entries_by_tag_status(
        self, store: MetadataStore, repo: Repository, tag_status: str
    ) -> None:
        push(store, repo, "a", NOW, "t2", "t1")
        push(store, repo, "u", NOW + 1)
        push(store, repo, "b", NOW + 2, "x")
        push(store, repo, "w", NOW + 3)
        every = pairs(store.list_image_entries(repo.id, None, 100, "ANY"))
        wanted = [p for p in every if (p[1] is None) == (tag_status == "UNTAGGED")]
        assert pairs(store.list_image_entries(repo.id, None, 100, tag_status)) == wanted
        paged = walk(
            lambda after: store.list_image_entries(repo.id, after, 1, tag_status), entry_key
        )
        assert pairs(paged) == wanted

    def test_entry_pages_survive_changes(self, store: MetadataStore, repo: Repository) -> None:
        initial = [
            push(store, repo, f"i{n}", NOW + n // 3, *[f"t{n}-{k}" for k in range(n % 3)])
            for n in range(18)
        ]
        rng = random.Random(11)
        doomed_images = [initial[k] for k in (2, 7, 12)]
        doomed_tags = [t for n, i in enumerate(initial) if n % 5 == 4 for t in i.tags]
        late, later = initial[0], initial[6]  # untagged until tagged between pages
        changed = {i.id for i in (*doomed_images, late, later)}
        steady = [
            (i, t) for i, t in entries_of(initial) if i not in changed and t not in doomed_tags
        ]
        seen: list[ImageEntry] = []
        after = None
        while page := store.list_image_entries(repo.id, after, 4):
            seen += page
            after = page[-1].key
            assert len(seen) < MAX_PAGES * 4, "the listing never ends"
            if len(seen) > CHANGING_PAGES * 4:
                continue
            if doomed_images:
                store.delete_image(
                    repo.id, doomed_images.pop(rng.randrange(len(doomed_images))).digest
                )
            if doomed_tags:
                store.delete_tag(repo.id, doomed_tags.pop(rng.randrange(len(doomed_tags))))
            push(store, repo, f"same{len(seen)}", after.pushed_at, f"s{len(seen)}")
            for image in (late, later):
                push(store, repo, f"i{initial.index(image)}", image.pushed_at, f"late{len(seen)}")
        got = pairs(seen)
        assert len(got) == len(set(got)), "an entry was listed twice"
        assert set(steady) <= set(got), "an entry that existed throughout was skipped"
        assert [e.key for e in seen] == sorted(
            (e.key for e in seen), key=lambda k: (k.pushed_at, k.id, k.tag)
        )
