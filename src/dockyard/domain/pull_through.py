"""Pull-through cache rules: what they hold, which one serves a name, where its upstream is.
Pure: stdlib only. (Reference: ecr-wave2.md §2.)

    rule ecrRepositoryPrefix "hub" + upstreamRepositoryPrefix ROOT, upstream registry-1.docker.io
        local  "hub/library/alpine"   <->  upstream "library/alpine"
    rule "cg" + upstreamRepositoryPrefix "example.com"
        local  "cg/app"               <->  upstream "example.com/app"
    rule "ROOT"                       serves every name no named rule covers

Prefixes carry an implied trailing "/" (stored without it). The longest covering prefix wins.
An upstream is one of ECR's named registries by its usual hosts, or (this registry being
self-hosted) any OCI registry `host[:port]`; plain HTTP only to hosts the operator lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from dockyard.domain.errors import ParameterInvalid, UnsupportedUpstreamRegistry

ROOT = "ROOT"
#: ECR's quota of pull-through cache rules per registry.
MAX_RULES = 50
SECRET_PREFIX = "ecr-pullthroughcache/"

_PREFIX = re.compile(
    r"^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*/?|ROOT)$"
)
_SECRET_ARN = re.compile(
    r"^arn:aws(-\w+)*:secretsmanager:(?P<region>[a-zA-Z0-9-]+):(?P<account>\d{12}):"
    r"secret:(?P<name>ecr-pullthroughcache/[a-zA-Z0-9/_+=.@-]+)$"
)
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")


class UpstreamRegistry(StrEnum):
    ECR = "ecr"
    ECR_PUBLIC = "ecr-public"
    QUAY = "quay"
    K8S = "k8s"
    DOCKER_HUB = "docker-hub"
    GITHUB = "github-container-registry"
    AZURE = "azure-container-registry"
    GITLAB = "gitlab-container-registry"
    CHAINGUARD = "chainguard"


#: ECR's named upstreams by the hosts their documentation gives (a pattern each).
NAMED_HOSTS: dict[UpstreamRegistry, re.Pattern[str]] = {
    UpstreamRegistry.ECR: re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"),
    UpstreamRegistry.ECR_PUBLIC: re.compile(r"^public\.ecr\.aws$"),
    UpstreamRegistry.QUAY: re.compile(r"^quay\.io$"),
    UpstreamRegistry.K8S: re.compile(r"^registry\.k8s\.io$"),
    UpstreamRegistry.DOCKER_HUB: re.compile(r"^registry-1\.docker\.io$"),
    UpstreamRegistry.GITHUB: re.compile(r"^ghcr\.io$"),
    UpstreamRegistry.AZURE: re.compile(r"^[a-z0-9-]+\.azurecr\.io$"),
    UpstreamRegistry.GITLAB: re.compile(r"^registry\.gitlab\.com$"),
    UpstreamRegistry.CHAINGUARD: re.compile(r"^cgr\.dev$"),
}
#: Named upstreams that need a credential secret (ECR refuses a rule for them without one).
NEEDS_SECRET = frozenset(
    {
        UpstreamRegistry.DOCKER_HUB,
        UpstreamRegistry.GITHUB,
        UpstreamRegistry.AZURE,
        UpstreamRegistry.GITLAB,
        UpstreamRegistry.CHAINGUARD,
    }
)


class UpstreamError(Exception):
    """An upstream registry refused, failed or could not be reached (not a DockyardError: the
    pull-through service decides what a client sees, usually the cached copy)."""


class UpstreamNotFound(UpstreamError):
    """The upstream answered that it has no such repository, manifest or blob."""


@dataclass(frozen=True)
class PullThroughRule:
    prefix: str  # ecrRepositoryPrefix without its trailing "/", or ROOT
    upstream_url: str  # upstreamRegistryUrl as given
    upstream_registry: str  # an UpstreamRegistry value, or "" for any other OCI registry
    upstream_prefix: str = ROOT
    credential_arn: str = ""
    custom_role_arn: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class Upstream:
    """Where a rule's registry answers: `https://host[:port]` or (listed insecure) http."""

    scheme: str
    host: str  # host[:port], lower case

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"


def _invalid(field: str, reason: str) -> ParameterInvalid:
    return ParameterInvalid(
        f"Invalid parameter at '{field}' failed to satisfy constraint: '{reason}'"
    )


def normalise_prefix(text: str, field: str = "ecrRepositoryPrefix") -> str:
    """A prefix as stored: checked against ECR's grammar, without its implied trailing "/"."""
    if not 2 <= len(text) <= 30 or not _PREFIX.match(text):
        raise _invalid(
            field,
            "must satisfy regular expression pattern "
            "'^([a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)"
            "[a-z0-9]+)*)*\\/?|ROOT)$' and be 2-30 characters",
        )
    return text if text == ROOT else text.rstrip("/")


def parse_upstream(url: str, registry: str, insecure: frozenset[str]) -> Upstream:
    """The upstream of `upstreamRegistryUrl` (with the rule's `upstreamRegistry`, "" if none):
    a named registry must be at one of its hosts; plain http only to `insecure` hosts."""
    explicit = "://" in url
    scheme, _, rest = url.partition("://") if explicit else ("", "", url)
    host = rest.rstrip("/").lower()
    if scheme not in ("", "https", "http") or not _HOST.match(host):
        raise UnsupportedUpstreamRegistry(
            f"The upstream registry URL '{url}' is not a registry host[:port]"
        )
    if registry:
        pattern = NAMED_HOSTS.get(UpstreamRegistry(registry))
        if pattern is None or not pattern.match(host.split(":")[0]):
            raise UnsupportedUpstreamRegistry(
                f"The upstream registry URL '{url}' is not a {registry} registry"
            )
    if scheme == "https" or host not in insecure:
        if scheme == "http":
            raise UnsupportedUpstreamRegistry(
                f"Plain HTTP to '{host}' is refused; the operator may allow it with "
                "--insecure-upstream"
            )
        return Upstream("https", host)
    return Upstream("http", host)


def infer_registry(url: str) -> str:
    """The named registry an upstream URL is, "" for any other OCI registry."""
    host = url.partition("://")[2] if "://" in url else url
    host = host.rstrip("/").lower().split(":")[0]
    for registry, pattern in NAMED_HOSTS.items():
        if pattern.match(host):
            return str(registry)
    return ""


def covers(prefix: str, name: str) -> bool:
    return prefix == ROOT or name.startswith(prefix + "/")


def rule_for(rules: list[PullThroughRule], name: str) -> PullThroughRule | None:
    """The rule that serves repository `name`: the longest covering prefix, ROOT last."""
    found = [r for r in rules if covers(r.prefix, name)]
    if not found:
        return None
    return max(found, key=lambda r: -1 if r.prefix == ROOT else len(r.prefix))


def upstream_name(rule: PullThroughRule, name: str) -> str:
    """The upstream repository a local repository `name` caches (`name` covered by `rule`)."""
    rest = name if rule.prefix == ROOT else name[len(rule.prefix) + 1 :]
    return rest if rule.upstream_prefix == ROOT else f"{rule.upstream_prefix}/{rest}"


def secret_name(arn: str, account_id: str) -> str:
    """The secret `ecr-pullthroughcache/<name>` a credentialArn names, in account `account_id`.

    ValueError when the ARN is another account's (the caller cannot read it)."""
    match = _SECRET_ARN.match(arn)
    if match is None:
        raise _invalid(
            "credentialArn",
            f"must be a Secrets Manager ARN of a secret named '{SECRET_PREFIX}<name>'",
        )
    if match["account"] != account_id:
        raise ValueError(match["account"])
    return match["name"]


def secret_matches(stored: str, named: str) -> bool:
    """Whether a secret declared as `stored` is the one an ARN names: the ARN may carry the
    six-character suffix Secrets Manager appends to every secret's ARN."""
    return named == stored or (named.startswith(stored + "-") and len(named) == len(stored) + 7)
