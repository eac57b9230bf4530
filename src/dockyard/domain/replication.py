"""Replication: the configuration, its validation, and where a pushed image goes. Pure: stdlib only.

    PutReplicationConfiguration document ──parse_configuration──> Configuration
        rules[0..10]: destinations (region, registryId), repositoryFilters (PREFIX_MATCH)
        at most 25 distinct destinations in all, no destination that is the source itself,
        every region either this server's own or one the operator declared ([[regions]])
    destinations_for(configuration, repository) -> the distinct destinations of the rules
        whose filters match (a rule without filters matches every repository)

A replicated image is one task per destination; its status moves IN_PROGRESS -> COMPLETE, or
-> FAILED with a failure code (reference ecr-wave2.md §3). Retries back off exponentially.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dockyard.domain.errors import ParameterInvalid

MAX_RULES = 10
MAX_DESTINATIONS = 25  # distinct, across all rules (ECR's quota)
MAX_FILTERS = 100  # per rule
PREFIX_MATCH = "PREFIX_MATCH"
FIELD = "replicationConfiguration"
#: The header a replicating Dockyard sends with each request to a destination Dockyard: its
#: writes there are replication's (services/replication_origin.py).
REPLICATION_HEADER = "X-Dockyard-Replication-Source"


class ReplicationStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


class FailureCode(StrEnum):
    """ECR documents the field as a free string; these say what went wrong and where."""

    DESTINATION_PERMISSION_DENIED = "DESTINATION_PERMISSION_DENIED"
    DESTINATION_REPOSITORY_MISSING = "DESTINATION_REPOSITORY_MISSING"
    DESTINATION_REFUSED = "DESTINATION_REFUSED"
    DESTINATION_TAG_IMMUTABLE = "DESTINATION_TAG_IMMUTABLE"  # the tag is dropped, not a failure
    DESTINATION_UNREACHABLE = "DESTINATION_UNREACHABLE"
    SOURCE_IMAGE_MISSING = "SOURCE_IMAGE_MISSING"
    REGION_NOT_CONFIGURED = "REGION_NOT_CONFIGURED"


class DestinationRefused(Exception):
    """The destination said no for good (permissions, a bad manifest): FAILED, no retry."""

    def __init__(self, code: FailureCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code


class DestinationUnavailable(Exception):
    """The destination could not be reached or answered 5xx: try again later."""


@dataclass(frozen=True, order=True)
class Destination:
    region: str
    registry_id: str


@dataclass(frozen=True)
class Rule:
    destinations: tuple[Destination, ...]
    prefixes: tuple[str, ...] = ()  # PREFIX_MATCH filters; none: every repository


@dataclass(frozen=True)
class Configuration:
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class NewTask:
    """A copy to queue: the image `digest` of the source repository, for one destination."""

    account_id: str
    repo_id: int
    repository: str
    digest: str
    destination: Destination


@dataclass(frozen=True)
class Task:
    """A claimed copy: what to copy where, and how many attempts went before."""

    id: int
    account_id: str
    repo_id: int
    repository: str
    digest: str
    destination: Destination
    attempts: int


@dataclass(frozen=True)
class DestinationStatus:
    """One line of DescribeImageReplicationStatus."""

    destination: Destination
    status: ReplicationStatus
    failure: str | None = None


def _invalid(reason: str) -> ParameterInvalid:
    return ParameterInvalid(
        f"Invalid parameter at '{FIELD}' failed to satisfy constraint: '{reason}'"
    )


def parse_configuration(
    document: Mapping[str, Any],
    source_account: str,
    local_region: str,
    known_regions: Collection[str],
) -> Configuration:
    """The configuration `document` (PutReplicationConfiguration's, shapes already checked
    against the model) as `source_account` may set it on a server in `local_region`."""
    rules = tuple(_rule(rule) for rule in document.get("rules") or [])
    if len(rules) > MAX_RULES:
        raise _invalid(f"A replication configuration can have at most {MAX_RULES} rules")
    destinations = {d for rule in rules for d in rule.destinations}
    if len(destinations) > MAX_DESTINATIONS:
        raise _invalid(
            f"A replication configuration can have at most {MAX_DESTINATIONS} unique destinations"
        )
    for destination in sorted(destinations):
        _check_destination(destination, source_account, local_region, known_regions)
    return Configuration(rules)


def _rule(rule: Mapping[str, Any]) -> Rule:
    filters = rule.get("repositoryFilters") or []
    if len(filters) > MAX_FILTERS:
        raise _invalid(f"A replication rule can have at most {MAX_FILTERS} repository filters")
    for item in filters:
        if item.get("filterType") != PREFIX_MATCH:
            raise _invalid(f"Repository filter type must be {PREFIX_MATCH}")
    destinations = tuple(
        Destination(d["region"], d["registryId"]) for d in rule.get("destinations") or []
    )
    return Rule(destinations, tuple(item["filter"] for item in filters))


def _check_destination(
    destination: Destination, source_account: str, local_region: str, known_regions: Collection[str]
) -> None:
    if destination.region == local_region and destination.registry_id == source_account:
        raise _invalid("Replication destination cannot be the same as the source registry")
    if destination.region != local_region and destination.region not in known_regions:
        raise _invalid(
            f"Replication destination region '{destination.region}' is not a region "
            "this registry can reach (declare it as [[regions]] in the server's "
            "--config file)"
        )


def to_document(configuration: Configuration) -> dict[str, Any]:
    """The configuration as DescribeRegistry and PutReplicationConfiguration answer it."""
    return {"rules": [_rule_document(rule) for rule in configuration.rules]}


def _rule_document(rule: Rule) -> dict[str, Any]:
    document: dict[str, Any] = {
        "destinations": [
            {"region": d.region, "registryId": d.registry_id} for d in rule.destinations
        ]
    }
    if rule.prefixes:
        document["repositoryFilters"] = [
            {"filter": p, "filterType": PREFIX_MATCH} for p in rule.prefixes
        ]
    return document


def from_document(document: Mapping[str, Any]) -> Configuration:
    """A stored configuration (written by `to_document` after validation) read back."""
    return Configuration(tuple(_rule(rule) for rule in document.get("rules") or []))


def matches(rule: Rule, repository: str) -> bool:
    """PREFIX_MATCH is a plain prefix of the name (`prod` matches `prod-app` and `prod/app`)."""
    return not rule.prefixes or any(repository.startswith(p) for p in rule.prefixes)


def destinations_for(configuration: Configuration, repository: str) -> list[Destination]:
    """Where an image pushed to `repository` goes: each destination once, in rule order."""
    found: dict[Destination, None] = {}
    for rule in configuration.rules:
        if matches(rule, repository):
            found.update(dict.fromkeys(rule.destinations))
    return list(found)


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Seconds before attempt `attempts + 1`: doubling from `base`, never above `cap`."""
    return float(min(cap, base * 2.0 ** min(attempts, 30)))


def copy_order(root: str, children: Mapping[str, Sequence[str]]) -> list[str]:
    """Manifests to copy for `root`, children before the indexes that list them, each once.

    `children` maps an index digest to the digests it lists (absent: an image manifest).
    """
    order: list[str] = []
    seen: set[str] = set()

    def visit(digest: str) -> None:
        if digest in seen:
            return
        seen.add(digest)
        for child in children.get(digest, ()):
            visit(child)
        order.append(digest)

    visit(root)
    return order


def distinct(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
