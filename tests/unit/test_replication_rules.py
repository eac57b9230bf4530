"""domain/replication.py: validation of PutReplicationConfiguration, prefix matching, where a
pushed image goes, copy order and retry delays."""

from __future__ import annotations

import pytest

from dockyard.domain.errors import ParameterInvalid
from dockyard.domain.replication import (
    Configuration,
    Destination,
    copy_order,
    destinations_for,
    from_document,
    parse_configuration,
    retry_delay,
    to_document,
)

SOURCE, OTHER, THIRD = "111111111111", "222222222222", "333333333333"
HERE, EU = "us-east-1", "eu-west-1"


def parse(rules: list[dict], regions: tuple[str, ...] = (EU,)) -> Configuration:
    return parse_configuration({"rules": rules}, SOURCE, HERE, regions)


def rule(*destinations: tuple[str, str], prefixes: tuple[str, ...] = ()) -> dict:
    found: dict = {"destinations": [{"region": r, "registryId": a} for r, a in destinations]}
    if prefixes:
        found["repositoryFilters"] = [{"filter": p, "filterType": "PREFIX_MATCH"} for p in prefixes]
    return found


def refused(rules: list[dict], regions: tuple[str, ...] = (EU,)) -> str:
    with pytest.raises(ParameterInvalid) as caught:
        parse(rules, regions)
    message = caught.value.message
    assert message.startswith(
        "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: '"
    )
    return message


def test_round_trip_keeps_rules_destinations_and_filters() -> None:
    document = {"rules": [rule((HERE, OTHER), prefixes=("prod", "team/")), rule((EU, SOURCE))]}
    assert to_document(parse(document["rules"])) == document
    assert to_document(from_document(document)) == document


def test_no_rules_disables_replication() -> None:
    assert to_document(parse([])) == {"rules": []}


def test_the_source_itself_is_refused() -> None:
    assert "cannot be the same as the source registry" in refused([rule((HERE, SOURCE))])


def test_the_same_account_in_another_region_is_a_destination() -> None:
    assert parse([rule((EU, SOURCE))]).rules[0].destinations == (Destination(EU, SOURCE),)


def test_an_undeclared_region_is_refused() -> None:
    assert "'ap-south-1' is not a region" in refused([rule(("ap-south-1", OTHER))])


def test_limits_rules_destinations_filters() -> None:
    assert "at most 10 rules" in refused([rule((EU, OTHER))] * 11)
    many = [rule(*[(EU, f"{n:012d}") for n in range(i * 13, i * 13 + 13)]) for i in range(2)]
    assert "at most 25 unique destinations" in refused(many)
    assert len(parse([rule(*[(EU, f"{n:012d}") for n in range(25)])] * 2).rules) == 2
    assert "at most 100 repository filters" in refused(
        [rule((EU, OTHER), prefixes=tuple(f"p{i}" for i in range(101)))]
    )


def test_only_prefix_match_filters() -> None:
    bad = rule((EU, OTHER))
    bad["repositoryFilters"] = [{"filter": "x", "filterType": "WILDCARD"}]
    assert "PREFIX_MATCH" in refused([bad])


def test_prefix_match_is_a_plain_prefix_and_no_filter_matches_all() -> None:
    config = parse([rule((HERE, OTHER), prefixes=("prod",)), rule((EU, THIRD))])
    assert destinations_for(config, "prod-app") == [
        Destination(HERE, OTHER),
        Destination(EU, THIRD),
    ]
    assert destinations_for(config, "prod/app") == [
        Destination(HERE, OTHER),
        Destination(EU, THIRD),
    ]
    assert destinations_for(config, "dev/prod") == [Destination(EU, THIRD)]


def test_a_destination_named_by_two_rules_gets_one_copy() -> None:
    config = parse([rule((HERE, OTHER), prefixes=("a",)), rule((HERE, OTHER), (EU, OTHER))])
    assert destinations_for(config, "app") == [Destination(HERE, OTHER), Destination(EU, OTHER)]


def test_copy_order_puts_children_first_once() -> None:
    children = {"index": ["a", "b", "a"], "b": ["c"]}
    assert copy_order("index", children) == ["a", "c", "b", "index"]
    assert copy_order("image", {}) == ["image"]


def test_retry_delay_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n, 2.0, 30.0) for n in range(6)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert retry_delay(10_000, 2.0, 30.0) == 30.0
