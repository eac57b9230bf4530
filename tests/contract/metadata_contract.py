"""The MetadataStore contract: what every metadata backend must do, whatever its database.

A backend's test module subclasses `MetadataStoreContract` (as a `Test*` class) and provides:

- a per-test fixture `store` yielding a fresh, empty store (and closing it afterwards);
- `residue(store)`, the rows still present per table, blobs excepted (they are global, shared by
  repositories, and only garbage collection removes them);
- `forget(store, accounts, secrets)`, which deletes the account settings of `accounts` and the
  secrets named `secrets`: the port never deletes those, yet a test must not leave them behind.

Every test creates its repositories through the `make_repo` fixture, in a fresh account. After
the test, each repository is deleted with `delete_repository` and the store must then hold
nothing else: a test that leaves data behind, or a delete that misses a table, fails. Account-level
rows are cleaned by the tests that make them: pull exclusions through the port, settings and
secrets through the `account_rows` fixture (which calls `forget`).

The cases are grouped by port: repositories, blobs and uploads here; images and tags in
_metadata_images.py; the paged image views in _metadata_listing.py; repository settings in
_metadata_admin.py; account-level rows in _metadata_accounts.py; lifecycle policies, previews
and restores in _metadata_lifecycle.py; races between threads in
_metadata_concurrency.py; upload sessions in _metadata_uploads.py; transactions spanning several calls (`atomic`) in _metadata_atomic.py;
the web console's sessions and overviews in _metadata_console.py; the webhook outbox in
_metadata_outbox.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from dockyard.domain.errors import RepositoryAlreadyExists
from dockyard.domain.models import Repository, RepositorySettings, Upload
from dockyard.ports import MetadataStore

from ._metadata_access import AccessPolicyCases
from ._metadata_accounts import AccountCases
from ._metadata_admin import AdminCases
from ._metadata_atomic import AtomicCases
from ._metadata_concurrency import ConcurrencyCases
from ._metadata_console import ConsoleCases
from ._metadata_images import ImageCases, TagCases
from ._metadata_lifecycle import LifecycleCases
from ._metadata_listing import EntryListingCases, ImageListingCases
from ._metadata_outbox import OutboxCases
from ._metadata_replication import ReplicationCases
from ._metadata_scans import ScanCases
from ._metadata_uploads import UploadCases
from .metadata_support import NOW, AccountRows, fresh_account, fresh_name, make_image, sha

MakeRepo = Callable[..., Repository]


class MetadataStoreContract(
    AtomicCases,
    ImageCases,
    TagCases,
    ImageListingCases,
    EntryListingCases,
    AdminCases,
    AccountCases,
    ConcurrencyCases,
    ScanCases,
    ConsoleCases,
    OutboxCases,
    ReplicationCases,
    LifecycleCases,
    UploadCases,
    AccessPolicyCases,
):
    """Subclass as `Test<Backend>MetadataStore` with a `store` fixture, `residue` and `forget`."""

    def residue(self, store: MetadataStore) -> dict[str, int]:
        """Rows left per table (blobs excepted); tables with no rows are left out."""
        raise NotImplementedError("a backend's contract subclass must say how to find leftovers")

    def forget(self, store: MetadataStore, accounts: Sequence[str], secrets: Sequence[str]) -> None:
        """Delete the settings of `accounts` and the secrets named `secrets`."""
        raise NotImplementedError("a backend's contract subclass must say how to drop them")

    # -- fixtures ------------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _leaves_nothing_behind(self, store: MetadataStore) -> Iterator[None]:
        # Set up before make_repo, so torn down after it has deleted the test's repositories.
        yield
        assert self.residue(store) == {}, "rows left behind after deleting every repository"

    @pytest.fixture
    def account(self) -> str:
        return fresh_account()

    @pytest.fixture
    def make_repo(self, store: MetadataStore, account: str) -> Iterator[MakeRepo]:
        made: list[Repository] = []

        def make(
            name: str | None = None,
            account_id: str | None = None,
            settings: RepositorySettings | None = None,
        ) -> Repository:
            owner, chosen = account_id or account, name or fresh_name()
            if settings is None:
                repo = store.create_repository(owner, chosen, NOW)
            else:
                repo = store.create_configured_repository(owner, chosen, settings, NOW)
            made.append(repo)
            return repo

        yield make
        for repo in made:
            if store.get_repository(repo.account_id, repo.name) is not None:
                store.delete_repository(repo.id)

    @pytest.fixture
    def repo(self, make_repo: MakeRepo) -> Repository:
        return make_repo()

    @pytest.fixture
    def account_rows(self, store: MetadataStore) -> Iterator[AccountRows]:
        rows = AccountRows()
        yield rows
        self.forget(store, rows.settings_of, rows.secrets)

    # -- lifecycle -----------------------------------------------------------------------------

    def test_probe_accepts_a_working_store(self, store: MetadataStore) -> None:
        store.probe()

    # -- repositories --------------------------------------------------------------------------

    def test_create_repository_returns_defaults(self, make_repo: MakeRepo, account: str) -> None:
        repo = make_repo("team/app")
        assert isinstance(repo.id, int)
        assert (repo.account_id, repo.name, repo.created_at) == (account, "team/app", NOW)
        assert repo.tag_mutability == "MUTABLE"
        assert repo.mutability_exclusions == ()
        assert repo.scan_on_push is False
        assert repo.encryption == {"encryptionType": "AES256"}
        assert repo.policy is None

    def test_get_repository_round_trips(self, store: MetadataStore, repo: Repository) -> None:
        assert store.get_repository(repo.account_id, repo.name) == repo
        assert store.get_repository(repo.account_id, repo.name + "-x") is None
        assert store.get_repository(fresh_account(), repo.name) is None

    def test_same_name_in_two_accounts(self, store: MetadataStore, make_repo: MakeRepo) -> None:
        first = make_repo("shared")
        second = make_repo("shared", account_id=fresh_account())
        assert first.id != second.id
        assert store.get_repository(second.account_id, "shared") == second

    def test_duplicate_repository_raises(self, store: MetadataStore, make_repo: MakeRepo) -> None:
        repo = make_repo("dup")
        with pytest.raises(RepositoryAlreadyExists):
            make_repo("dup")
        assert store.get_repository(repo.account_id, "dup") == repo

    def test_list_repository_names_sorted_and_paged(
        self, store: MetadataStore, make_repo: MakeRepo, account: str
    ) -> None:
        names = ["b", "a", "a-b", "a.b", "a/b", "a_b", "ab", "a0", "B", "zz/top"]
        for name in names:
            make_repo(name)
        make_repo("a-elsewhere", account_id=fresh_account())
        expected = sorted(names)
        assert store.list_repository_names(account, None, 100) == expected
        assert store.list_repository_names(account, "a-", 100) == [n for n in expected if n > "a-"]
        assert store.list_repository_names(account, "zz/top", 100) == []
        assert _pages(lambda after: store.list_repository_names(account, after, 3)) == expected

    def test_list_repository_names_of_empty_account(self, store: MetadataStore) -> None:
        assert store.list_repository_names(fresh_account(), None, 10) == []

    def test_delete_repository_removes_every_row(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        _populate(store, repo)
        store.delete_repository(repo.id)
        assert store.get_repository(repo.account_id, repo.name) is None
        assert self.residue(store) == {}

    def test_delete_repository_leaves_others_alone(
        self, store: MetadataStore, make_repo: MakeRepo
    ) -> None:
        doomed, kept = make_repo(), make_repo()
        _populate(store, doomed)
        image = _populate(store, kept)
        store.delete_repository(doomed.id)
        found = store.get_image(kept.id, image, with_manifest=True)
        assert found is not None and found.tags == ("latest",)
        assert store.parents_of(kept.id, sha("child")) != []
        assert store.linked_blob_size(kept.id, sha("layer")) == 5
        assert store.get_upload(f"upload-{kept.id}") is not None
        assert store.resource_tags(kept.id) == {"team": "core"}
        assert store.get_image(doomed.id, image) is None
        assert store.resource_tags(doomed.id) == {}

    # -- blobs ---------------------------------------------------------------------------------

    def test_link_blob_is_idempotent_and_per_repository(
        self, store: MetadataStore, make_repo: MakeRepo
    ) -> None:
        repo, other = make_repo(), make_repo()
        store.link_blob(repo.id, sha("a"), 10, NOW)
        store.link_blob(repo.id, sha("a"), 10, NOW + 1)
        assert store.linked_blob_size(repo.id, sha("a")) == 10
        assert store.linked_blob_size(other.id, sha("a")) is None
        assert store.linked_blob_size(repo.id, sha("unknown")) is None
        store.link_blob(other.id, sha("a"), 10, NOW)
        assert store.linked_blob_size(other.id, sha("a")) == 10

    def test_unlink_blob(self, store: MetadataStore, make_repo: MakeRepo) -> None:
        repo, other = make_repo(), make_repo()
        for target in (repo, other):
            store.link_blob(target.id, sha("a"), 10, NOW)
        assert store.unlink_blob(repo.id, sha("a")) is True
        assert store.unlink_blob(repo.id, sha("a")) is False
        assert store.linked_blob_size(repo.id, sha("a")) is None
        assert store.linked_blob_size(other.id, sha("a")) == 10

    def test_linked_blob_sizes_are_those_of_linked_blobs_only(
        self, store: MetadataStore, make_repo: MakeRepo
    ) -> None:
        repo, other = make_repo(), make_repo()
        store.link_blob(repo.id, sha("2"), 2, NOW)
        store.link_blob(other.id, sha("3"), 3, NOW)  # stored, but not linked to `repo`
        asked = [sha("3"), sha("2"), sha("1"), sha("2")]
        assert store.linked_blob_sizes(repo.id, asked) == {sha("2"): 2}
        assert store.linked_blob_sizes(other.id, asked) == {sha("3"): 3}
        assert store.linked_blob_sizes(repo.id, []) == {}


def _pages(fetch: Callable[[str | None], list[str]]) -> list[str]:
    """Follow `after` cursors until an empty page; every page must be non-empty before that."""
    seen: list[str] = []
    while page := fetch(seen[-1] if seen else None):
        seen += page
    return seen


def _populate(store: MetadataStore, repo: Repository) -> str:
    """One of each kind of row under `repo`; returns the tagged image's digest."""
    store.link_blob(repo.id, sha("layer"), 5, NOW)
    child = make_image("child")
    store.save_image(repo.id, child, "child", True, NOW)
    index = make_image("index", children=[child.digest, sha("child")])
    saved = store.save_image(repo.id, index, "latest", True, NOW)
    store.save_image(repo.id, make_image("sig", subject=index.digest), None, True, NOW)
    store.record_pulls({saved.image.id: NOW + 5})
    store.create_upload(Upload(id=f"upload-{repo.id}", repo_id=repo.id, size=3, created_at=NOW))
    store.set_resource_tags(repo.id, {"team": "core"})
    return index.digest
