"""Contract cases for repository settings and resource tags (RepositoryAdmin)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dockyard.domain.errors import RepositoryAlreadyExists
from dockyard.domain.models import Repository, RepositoryChanges, RepositorySettings
from dockyard.ports import MetadataStore

from .metadata_support import NOW, fresh_account, make_image, walk

MakeRepo = Callable[..., Repository]

CONFIGURED = RepositorySettings(
    tag_mutability="IMMUTABLE_WITH_EXCLUSION",
    mutability_exclusions=("latest", "dev-*"),
    scan_on_push=True,
    encryption={"encryptionType": "KMS", "kmsKey": "arn:aws:kms:us-east-1:1:key/k"},
    resource_tags={"team": "core", "env": "prod"},
)


class AdminCases:
    def test_create_configured_repository(
        self, store: MetadataStore, make_repo: MakeRepo, account: str
    ) -> None:
        repo = make_repo("configured", settings=CONFIGURED)
        assert (repo.account_id, repo.name, repo.created_at) == (account, "configured", NOW)
        assert repo.tag_mutability == "IMMUTABLE_WITH_EXCLUSION"
        assert repo.mutability_exclusions == ("latest", "dev-*")
        assert repo.scan_on_push is True
        assert repo.encryption == CONFIGURED.encryption
        assert repo.policy is None
        assert store.get_repository(account, "configured") == repo
        assert store.resource_tags(repo.id) == {"env": "prod", "team": "core"}

    def test_default_settings_match_create_repository(
        self, store: MetadataStore, make_repo: MakeRepo
    ) -> None:
        plain, configured = make_repo(), make_repo(settings=RepositorySettings())
        fields = ("tag_mutability", "mutability_exclusions", "scan_on_push", "encryption", "policy")
        assert [getattr(plain, f) for f in fields] == [getattr(configured, f) for f in fields]
        assert store.resource_tags(configured.id) == {}

    def test_configured_duplicate_raises_and_changes_nothing(
        self, store: MetadataStore, make_repo: MakeRepo
    ) -> None:
        repo = make_repo("dup", settings=CONFIGURED)
        again = RepositorySettings(scan_on_push=False, resource_tags={"team": "other", "x": "y"})
        with pytest.raises(RepositoryAlreadyExists):
            make_repo("dup", settings=again)
        assert store.get_repository(repo.account_id, "dup") == repo
        assert store.resource_tags(repo.id) == CONFIGURED.resource_tags

    def test_list_repositories_sorted_and_paged(
        self, store: MetadataStore, make_repo: MakeRepo, account: str
    ) -> None:
        names = ["b", "a", "a-b", "a/b", "ab", "B", "zz/top"]
        made = {name: make_repo(name) for name in names}
        make_repo("a-elsewhere", account_id=fresh_account())
        expected = [made[name] for name in sorted(names)]
        assert store.list_repositories(account, None, None, 100) == expected
        assert store.list_repositories(account, None, None, 2) == expected[:2]
        assert store.list_repositories(account, None, "a/b", 100) == expected[4:]
        paged = walk(lambda after: store.list_repositories(account, None, after, 3), _name)
        assert paged == expected

    def test_list_repositories_by_names(
        self, store: MetadataStore, make_repo: MakeRepo, account: str
    ) -> None:
        a, b, _ = make_repo("a"), make_repo("b"), make_repo("c")
        elsewhere = make_repo("d", account_id=fresh_account())
        found = store.list_repositories(
            account, ["b", "missing", "a", "b", elsewhere.name], None, 10
        )
        assert found == [a, b]
        assert store.list_repositories(account, ["c", "b", "a"], "a", 1) == [b]
        assert store.list_repositories(account, [], None, 10) == []

    def test_update_repository_settings(self, store: MetadataStore, repo: Repository) -> None:
        updated = store.update_repository(
            repo.id,
            RepositoryChanges(
                tag_mutability="IMMUTABLE",
                mutability_exclusions=("v*", "latest"),
                scan_on_push=True,
            ),
        )
        assert (updated.id, updated.name, updated.created_at) == (repo.id, repo.name, NOW)
        assert updated.tag_mutability == "IMMUTABLE"
        assert updated.mutability_exclusions == ("v*", "latest")
        assert updated.scan_on_push is True
        assert updated.policy is None
        assert store.get_repository(repo.account_id, repo.name) == updated
        again = store.update_repository(repo.id, RepositoryChanges(mutability_exclusions=()))
        assert again.mutability_exclusions == () and again.tag_mutability == "IMMUTABLE"

    def test_update_repository_policy(self, store: MetadataStore, repo: Repository) -> None:
        policy = '{"Version": "2012-10-17", "Statement": []}'
        assert store.update_repository(repo.id, RepositoryChanges(policy=policy)).policy == policy
        found = store.get_repository(repo.account_id, repo.name)
        assert found is not None and found.policy == policy
        cleared = store.update_repository(repo.id, RepositoryChanges(policy=None))
        assert cleared == repo

    def test_update_repository_without_changes(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        assert store.update_repository(repo.id, RepositoryChanges()) == repo

    def test_update_repository_rejects_values_of_the_wrong_type(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        with pytest.raises(TypeError, match="policy"):
            store.update_repository(repo.id, RepositoryChanges(scan_on_push=True, policy=42))  # type: ignore[arg-type]
        assert store.get_repository(repo.account_id, repo.name) == repo

    def test_has_images(self, store: MetadataStore, repo: Repository, make_repo: MakeRepo) -> None:
        assert store.has_images(repo.id) is False
        news = [make_image(f"i{n}") for n in range(2)]
        for new in news:
            store.save_image(repo.id, new, None, False, NOW)
        other = make_repo()
        store.save_image(other.id, make_image("elsewhere"), None, False, NOW)
        assert store.has_images(repo.id) is True
        store.delete_image(repo.id, news[0].digest)
        assert store.has_images(repo.id) is True
        store.delete_image(repo.id, news[1].digest)
        assert store.has_images(repo.id) is False
        assert store.has_images(other.id) is True

    def test_blob_referenced(
        self, store: MetadataStore, repo: Repository, make_repo: MakeRepo
    ) -> None:
        new = make_image("refs")
        layer = new.blob_digests[-1]
        assert store.blob_referenced(repo.id, layer) is False
        store.save_image(repo.id, new, None, False, NOW)
        assert store.blob_referenced(repo.id, layer) is True
        assert store.blob_referenced(make_repo().id, layer) is False
        store.delete_image(repo.id, new.digest)
        assert store.blob_referenced(repo.id, layer) is False

    def test_resource_tags_merge_and_remove(
        self, store: MetadataStore, repo: Repository, make_repo: MakeRepo
    ) -> None:
        other = make_repo(settings=RepositorySettings(resource_tags={"team": "other"}))
        assert store.resource_tags(repo.id) == {}
        store.set_resource_tags(repo.id, {"team": "core", "env": "dev"})
        store.set_resource_tags(repo.id, {"env": "prod", "cost": ""})
        assert store.resource_tags(repo.id) == {"team": "core", "env": "prod", "cost": ""}
        store.set_resource_tags(repo.id, {})
        store.remove_resource_tags(repo.id, ["env", "missing", "team"])
        assert store.resource_tags(repo.id) == {"cost": ""}
        store.remove_resource_tags(repo.id, [])
        assert store.resource_tags(repo.id) == {"cost": ""}
        assert store.resource_tags(other.id) == {"team": "other"}


def _name(repo: Repository) -> str:
    return repo.name
