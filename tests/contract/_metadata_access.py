"""Contract cases for what the access check reads on every request (RegistryPolicyStore's
get_access_policies): the registry policy and one repository's policy, in one call."""

from __future__ import annotations

from collections.abc import Callable

from dockyard.domain.models import Repository, RepositoryChanges
from dockyard.ports import MetadataStore

from .metadata_support import NOW, fresh_account, fresh_name

REGISTRY = '{"Version": "2012-10-17", "Statement": [{"Sid": "registry"}]}'
REPOSITORY = '{"Version": "2012-10-17", "Statement": [{"Sid": "repository"}]}'


class AccessPolicyCases:
    def test_access_policies_none_until_set(
        self, store: MetadataStore, make_repo: Callable[..., Repository]
    ) -> None:
        repo = make_repo()
        assert store.get_access_policies(repo.account_id, repo.name) == (None, None)
        assert store.get_access_policies(repo.account_id, None) == (None, None)
        assert store.get_access_policies(repo.account_id, fresh_name()) == (None, None)

    def test_access_policies_of_the_account_and_the_repository(
        self, store: MetadataStore, make_repo: Callable[..., Repository]
    ) -> None:
        repo, sibling = make_repo(), make_repo()
        other_account = fresh_account()
        same_name_elsewhere = make_repo(repo.name, other_account)
        store.update_repository(repo.id, RepositoryChanges(policy=REPOSITORY))
        store.put_registry_policy(repo.account_id, REGISTRY, NOW)
        try:
            assert store.get_access_policies(repo.account_id, repo.name) == (REGISTRY, REPOSITORY)
            assert store.get_access_policies(repo.account_id, sibling.name) == (REGISTRY, None)
            assert store.get_access_policies(repo.account_id, None) == (REGISTRY, None)
            assert store.get_access_policies(other_account, same_name_elsewhere.name) == (
                None,
                None,
            )
            assert store.get_access_policies(repo.account_id, fresh_name()) == (REGISTRY, None)
        finally:
            store.delete_registry_policy(repo.account_id)
        assert store.get_access_policies(repo.account_id, repo.name) == (None, REPOSITORY)
