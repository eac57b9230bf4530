"""Principals whose pulls do not update lastRecordedPullTime (ECR pull-time update exclusions).

Pulls are hot and exclusions rarely change, so each process keeps the list per account for a
few seconds instead of asking the database on every manifest GET.
"""

from __future__ import annotations

import threading

from dockyard.domain.errors import ExclusionAlreadyExists, ExclusionNotFound, LimitExceeded
from dockyard.domain.page_tokens import Pager
from dockyard.ports import AccountStore
from dockyard.services.clock import Clock

MAX_EXCLUSIONS = 100
DEFAULT_PAGE = 100
CACHE_SECONDS = 5.0


class PullExclusions:
    def __init__(self, accounts: AccountStore, clock: Clock, token_key: bytes) -> None:
        self.accounts, self.clock, self.token_key = accounts, clock, token_key
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def register(self, account_id: str, principal: str) -> float:
        """Exclude `principal`'s pulls from pull times; when the exclusion was made."""
        if (
            len(self.accounts.list_pull_exclusions(account_id, None, MAX_EXCLUSIONS))
            >= MAX_EXCLUSIONS
        ):
            raise LimitExceeded(f"An account can have at most {MAX_EXCLUSIONS} exclusions")
        now = self.clock.now()
        if not self.accounts.add_pull_exclusion(account_id, principal, now):
            raise ExclusionAlreadyExists(f"The principal '{principal}' is already excluded")
        self._forget(account_id)
        return now

    def deregister(self, account_id: str, principal: str) -> None:
        if not self.accounts.remove_pull_exclusion(account_id, principal):
            raise ExclusionNotFound(f"The principal '{principal}' is not excluded")
        self._forget(account_id)

    def page(
        self, account_id: str, token: str | None, max_results: int | None
    ) -> tuple[list[str], str | None]:
        pager = Pager(self.token_key, {"op": "ListPullTimeUpdateExclusions", "account": account_id})
        after = pager.position(token)
        limit = max_results or DEFAULT_PAGE
        found = self.accounts.list_pull_exclusions(
            account_id, after["after"] if after else None, limit + 1
        )
        return pager.page(found, limit, lambda last: {"after": last})

    def is_excluded(self, account_id: str, principal: str) -> bool:
        now = self.clock.now()
        with self._lock:
            cached = self._cache.get(account_id)
        if cached is None or now - cached[0] > CACHE_SECONDS:
            found = frozenset(self.accounts.list_pull_exclusions(account_id, None, MAX_EXCLUSIONS))
            cached = (now, found)
            with self._lock:
                self._cache[account_id] = cached
        return principal in cached[1]

    def _forget(self, account_id: str) -> None:
        with self._lock:
            self._cache.pop(account_id, None)
