"""Contract cases for account-level rows (AccountStore): settings, pull exclusions, secrets.

These rows outlive repositories, so each test cleans what it makes: pull exclusions through the
port, settings and secrets through the `account_rows` fixture.
"""

from __future__ import annotations

from dockyard.domain.models import Repository
from dockyard.ports import MetadataStore

from .metadata_support import NOW, THREADS, AccountRows, fresh_account, run_together, walk


def _principal(name: str, account: str = "123456789012") -> str:
    return f"arn:aws:iam::{account}:role/{name}"


class AccountCases:
    def test_account_settings(self, store: MetadataStore, account_rows: AccountRows) -> None:
        account, other = account_rows.account(), account_rows.account()
        assert store.get_account_setting(account, "BASIC_SCAN_TYPE_VERSION") is None
        store.put_account_setting(account, "BASIC_SCAN_TYPE_VERSION", "AWS_NATIVE")
        store.put_account_setting(account, "REGISTRY_POLICY_SCOPE", "V2")
        store.put_account_setting(other, "BASIC_SCAN_TYPE_VERSION", "CLAIR")
        assert store.get_account_setting(account, "BASIC_SCAN_TYPE_VERSION") == "AWS_NATIVE"
        store.put_account_setting(account, "BASIC_SCAN_TYPE_VERSION", "CLAIR")
        assert store.get_account_setting(account, "BASIC_SCAN_TYPE_VERSION") == "CLAIR"
        assert store.get_account_setting(account, "REGISTRY_POLICY_SCOPE") == "V2"
        assert store.get_account_setting(fresh_account(), "REGISTRY_POLICY_SCOPE") is None

    def test_pull_exclusions(self, store: MetadataStore) -> None:
        account, other = fresh_account(), fresh_account()
        principals = [_principal(n) for n in ("b", "a", "a-b", "a.b", "a_b", "B", "ab")]
        assert all(store.add_pull_exclusion(account, p, NOW) for p in principals)
        assert store.add_pull_exclusion(account, principals[0], NOW + 1) is False
        assert store.add_pull_exclusion(other, principals[0], NOW) is True
        expected = sorted(principals)
        try:
            assert store.list_pull_exclusions(account, None, 100) == expected
            assert store.list_pull_exclusions(account, None, 2) == expected[:2]
            assert store.list_pull_exclusions(account, expected[2], 100) == expected[3:]
            assert store.list_pull_exclusions(account, expected[-1], 100) == []
            paged = walk(lambda after: store.list_pull_exclusions(account, after, 3), str)
            assert paged == expected
            assert store.list_pull_exclusions(other, None, 100) == [principals[0]]
            assert store.remove_pull_exclusion(account, principals[0]) is True
            assert store.remove_pull_exclusion(account, principals[0]) is False
            assert store.list_pull_exclusions(account, None, 100) == sorted(principals[1:])
            assert store.list_pull_exclusions(other, None, 100) == [principals[0]]
        finally:
            for principal in principals:
                store.remove_pull_exclusion(account, principal)
            store.remove_pull_exclusion(other, principals[0])
        assert store.list_pull_exclusions(account, None, 100) == []

    def test_pull_exclusions_outlive_repositories(
        self, store: MetadataStore, repo: Repository
    ) -> None:
        principal = _principal("ci")
        store.add_pull_exclusion(repo.account_id, principal, NOW)
        try:
            store.delete_repository(repo.id)
            assert store.list_pull_exclusions(repo.account_id, None, 10) == [principal]
        finally:
            store.remove_pull_exclusion(repo.account_id, principal)

    def test_secret_is_created_once(self, store: MetadataStore, account_rows: AccountRows) -> None:
        name, other = account_rows.secret(), account_rows.secret()
        assert store.secret(name, b"\x00first\xff") == b"\x00first\xff"
        assert store.secret(name, b"second") == b"\x00first\xff"
        assert store.secret(other, b"other") == b"other"
        assert store.secret(name, b"third") == b"\x00first\xff"

    def test_concurrent_first_secret_has_one_value(
        self, store: MetadataStore, account_rows: AccountRows
    ) -> None:
        name = account_rows.secret()
        outcomes = run_together(THREADS, lambda i: store.secret(name, f"candidate {i}".encode()))
        assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
        assert len(set(outcomes)) == 1
        assert outcomes[0] in {f"candidate {i}".encode() for i in range(THREADS)}
        assert store.secret(name, b"late") == outcomes[0]
