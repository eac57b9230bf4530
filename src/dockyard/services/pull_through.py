"""Pull-through cache rules: the five ECR operations, and the upstream a rule reaches.

    create / describe / update / delete / validate    CreatePullThroughCacheRule and friends
    connect(account, rule) -> UpstreamClient            the rule's upstream, with its credentials

Credentials: a rule's `credentialArn` names the secret `ecr-pullthroughcache/<name>` of its
account; the secrets are those the auth file declares (`[[accounts.secrets]]` with `name`,
`username`, `accessToken`, what the Secrets Manager secret holds on AWS), see UpstreamSecrets.
The pulls themselves are services/pull_through_cache.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.domain.errors import (
    LimitExceeded,
    ParameterInvalid,
    PullThroughRuleAlreadyExists,
    PullThroughRuleNotFound,
    SecretNotFound,
    UnableToAccessSecret,
    UnableToDecryptSecretValue,
    UnsupportedUpstreamRegistry,
)
from dockyard.domain.page_tokens import decode_token, encode_token
from dockyard.domain.pull_through import (
    MAX_RULES,
    NEEDS_SECRET,
    ROOT,
    PullThroughRule,
    UpstreamError,
    UpstreamRegistry,
    infer_registry,
    normalise_prefix,
    parse_upstream,
    secret_matches,
    secret_name,
)
from dockyard.ports import PullThroughRuleStore, UpstreamClient, UpstreamConnector
from dockyard.services.clock import Clock

DEFAULT_PAGE = 100
DAY = 24 * 3600.0


@dataclass(frozen=True)
class UpstreamSecrets:
    """Secrets by account: name -> the secret's fields (`username`, `accessToken`)."""

    by_account: Mapping[str, Mapping[str, Mapping[str, object]]] = field(default_factory=dict)

    @classmethod
    def from_auth_document(cls, document: Mapping[str, object]) -> UpstreamSecrets:
        found: dict[str, dict[str, Mapping[str, object]]] = {}
        for account in document.get("accounts", []) or []:  # type: ignore[attr-defined]
            for secret in account.get("secrets", []) or []:
                if isinstance(secret, dict) and secret.get("name"):
                    found.setdefault(str(account.get("id")), {})[str(secret["name"])] = secret
        return cls(found)

    def credentials(self, account_id: str, arn: str) -> tuple[str, str]:
        """(username, accessToken) of the secret `arn` names; the ECR errors otherwise."""
        try:
            named = secret_name(arn, account_id)
        except ValueError:
            raise UnableToAccessSecret(
                f"The secret '{arn}' belongs to another account and cannot be accessed"
            ) from None
        for stored, fields in self.by_account.get(account_id, {}).items():
            if secret_matches(stored, named):
                username, token = fields.get("username"), fields.get("accessToken")
                if not isinstance(username, str) or not isinstance(token, str) or not token:
                    raise UnableToDecryptSecretValue(
                        f"The secret '{arn}' does not hold a username and an accessToken"
                    )
                return username, token
        raise SecretNotFound(f"The secret '{arn}' cannot be found")


@dataclass(frozen=True)
class PullThroughConfig:
    """The operator's choices (`--insecure-upstream`, `--pull-through-refresh`, auth file)."""

    insecure_hosts: frozenset[str] = frozenset()
    refresh_seconds: float = DAY
    secrets: UpstreamSecrets = field(default_factory=UpstreamSecrets)


def _not_found(account_id: str, prefix: str) -> PullThroughRuleNotFound:
    return PullThroughRuleNotFound(
        f"The pull through cache rule with prefix '{prefix}' does not exist in the registry "
        f"with id '{account_id}'"
    )


class PullThroughRules:
    def __init__(
        self,
        meta: PullThroughRuleStore,
        clock: Clock,
        config: PullThroughConfig,
        connector: UpstreamConnector | None,
        token_key: bytes,
    ) -> None:
        self.meta, self.clock, self.config = meta, clock, config
        self.connector, self.token_key = connector, token_key

    # -- the ECR operations -------------------------------------------------------------------

    def create(self, account_id: str, rule: PullThroughRule) -> PullThroughRule:
        rule = self._checked(account_id, rule)
        if len(self.meta.list_pull_through_rules(account_id)) >= MAX_RULES:
            raise LimitExceeded(f"A registry can have at most {MAX_RULES} pull through cache rules")
        now = self.clock.now()
        stored = dataclasses.replace(rule, created_at=now, updated_at=now)
        if not self.meta.create_pull_through_rule(account_id, stored):
            raise PullThroughRuleAlreadyExists(
                f"A pull through cache rule with prefix '{rule.prefix}' already exists in the "
                f"registry with id '{account_id}'"
            )
        return stored

    def describe(
        self,
        account_id: str,
        prefixes: list[str] | None,
        token: str | None,
        max_results: int | None,
    ) -> tuple[list[PullThroughRule], str | None]:
        found = self.meta.list_pull_through_rules(account_id)
        if prefixes:
            wanted = {normalise_prefix(p) for p in prefixes}
            missing = wanted - {r.prefix for r in found}
            if missing:
                raise _not_found(account_id, min(missing))
            found = [r for r in found if r.prefix in wanted]
        scope = {
            "op": "DescribePullThroughCacheRules",
            "account": account_id,
            "prefixes": sorted(prefixes or []),
        }
        if token:
            after = decode_token(self.token_key, token, scope)["prefix"]
            found = [r for r in found if r.prefix > after]
        limit = max_results or DEFAULT_PAGE
        if len(found) <= limit:
            return found, None
        return found[:limit], encode_token(
            self.token_key, scope, {"prefix": found[limit - 1].prefix}
        )

    def update(
        self, account_id: str, prefix: str, credential_arn: str | None, custom_role_arn: str | None
    ) -> PullThroughRule:
        current = self.get(account_id, prefix)
        if credential_arn is None and custom_role_arn is None:
            raise ParameterInvalid(
                "Invalid parameter at 'credentialArn' failed to satisfy "
                "constraint: 'credentialArn or customRoleArn is required'"
            )
        changed = dataclasses.replace(
            current,
            credential_arn=current.credential_arn if credential_arn is None else credential_arn,
            custom_role_arn=current.custom_role_arn if custom_role_arn is None else custom_role_arn,
            updated_at=self.clock.now(),
        )
        self._check_credentials(account_id, changed)
        if not self.meta.replace_pull_through_rule(account_id, changed):
            raise _not_found(account_id, prefix)
        return changed

    def delete(self, account_id: str, prefix: str) -> PullThroughRule:
        found = self.get(account_id, prefix)
        if not self.meta.delete_pull_through_rule(account_id, found.prefix):
            raise _not_found(account_id, prefix)
        return found

    def validate(self, account_id: str, prefix: str) -> tuple[PullThroughRule, str | None]:
        """The rule and why it cannot reach its upstream (None: it can)."""
        rule = self.get(account_id, prefix)
        try:
            client = self.connect(account_id, rule)
            client.check("probe" if rule.upstream_prefix == ROOT else rule.upstream_prefix)
        except (
            UpstreamError,
            SecretNotFound,
            UnableToAccessSecret,
            UnableToDecryptSecretValue,
            UnsupportedUpstreamRegistry,
        ) as exc:
            return rule, str(exc)
        return rule, None

    def get(self, account_id: str, prefix: str) -> PullThroughRule:
        wanted = normalise_prefix(prefix)
        for rule in self.meta.list_pull_through_rules(account_id):
            if rule.prefix == wanted:
                return rule
        raise _not_found(account_id, prefix)

    # -- reaching a rule's upstream -----------------------------------------------------------

    def connect(self, account_id: str, rule: PullThroughRule) -> UpstreamClient:
        upstream = parse_upstream(
            rule.upstream_url, rule.upstream_registry, self.config.insecure_hosts
        )
        username = token = None
        if rule.credential_arn:
            username, token = self.config.secrets.credentials(account_id, rule.credential_arn)
        if self.connector is None:
            raise UpstreamError("this server has no upstream client")
        return self.connector.client(upstream.base_url, username, token)

    def _checked(self, account_id: str, rule: PullThroughRule) -> PullThroughRule:
        registry = rule.upstream_registry or infer_registry(rule.upstream_url)
        rule = dataclasses.replace(
            rule,
            prefix=normalise_prefix(rule.prefix),
            upstream_registry=registry,
            upstream_prefix=normalise_prefix(rule.upstream_prefix, "upstreamRepositoryPrefix"),
        )
        parse_upstream(rule.upstream_url, registry, self.config.insecure_hosts)
        if registry == UpstreamRegistry.ECR:
            raise UnsupportedUpstreamRegistry(
                "ECR upstreams authenticate with customRoleArn, which this registry does not "
                "implement; name the registry by host with a credentialArn instead"
            )
        if registry in NEEDS_SECRET and not rule.credential_arn:
            raise ParameterInvalid(
                "Invalid parameter at 'credentialArn' failed to satisfy "
                f"constraint: 'A credentialArn is required for {registry}'"
            )
        self._check_credentials(account_id, rule)
        return rule

    def _check_credentials(self, account_id: str, rule: PullThroughRule) -> None:
        if rule.credential_arn:
            self.config.secrets.credentials(account_id, rule.credential_arn)
