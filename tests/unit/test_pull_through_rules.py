"""domain/pull_through.py: prefixes, which rule serves a name, upstream hosts, secret ARNs."""

from __future__ import annotations

import pytest

from dockyard.domain.errors import ParameterInvalid, UnsupportedUpstreamRegistry
from dockyard.domain.pull_through import (
    ROOT,
    PullThroughRule,
    Upstream,
    infer_registry,
    normalise_prefix,
    parse_upstream,
    rule_for,
    secret_matches,
    secret_name,
    upstream_name,
)

ACCOUNT = "123456789012"


def rule(prefix: str, upstream_prefix: str = ROOT) -> PullThroughRule:
    return PullThroughRule(prefix, "registry.example:5000", "", upstream_prefix)


@pytest.mark.parametrize(
    "text, stored",
    [
        ("ecr-public", "ecr-public"),
        ("ecr-public/", "ecr-public"),
        ("a/b.c", "a/b.c"),
        ("ROOT", "ROOT"),
        ("ab", "ab"),
    ],
)
def test_prefixes_lose_their_implied_slash(text: str, stored: str) -> None:
    assert normalise_prefix(text) == stored


@pytest.mark.parametrize("text", ["a", "x" * 31, "Upper", "a//b", "-a", "a b", "a/-b", "ROOT/x"])
def test_prefixes_outside_ecr_grammar_are_refused(text: str) -> None:
    with pytest.raises(ParameterInvalid, match="ecrRepositoryPrefix"):
        normalise_prefix(text)


def test_the_longest_covering_prefix_wins_and_root_comes_last() -> None:
    rules = [rule("hub"), rule("hub/team"), rule(ROOT), rule("quay")]
    assert rule_for(rules, "hub/team/app").prefix == "hub/team"
    assert rule_for(rules, "hub/app").prefix == "hub"
    assert rule_for(rules, "hubble/app").prefix == ROOT  # "hub" covers "hub/..." only
    assert rule_for(rules, "hub").prefix == ROOT  # the prefix alone names no upstream image
    assert rule_for([rule("hub")], "other/app") is None


def test_names_map_to_the_upstream_with_its_prefix() -> None:
    assert upstream_name(rule("hub"), "hub/library/alpine") == "library/alpine"
    assert upstream_name(rule("cg", "example.com"), "cg/app") == "example.com/app"
    assert upstream_name(rule(ROOT), "team/app") == "team/app"
    assert upstream_name(rule(ROOT, "mirror"), "team/app") == "mirror/team/app"


def test_upstreams_are_https_unless_the_operator_lists_the_host() -> None:
    insecure = frozenset({"127.0.0.1:5000"})
    assert parse_upstream("registry.example:443", "", insecure) == Upstream(
        "https", "registry.example:443"
    )
    assert parse_upstream("127.0.0.1:5000", "", insecure).base_url == "http://127.0.0.1:5000"
    assert parse_upstream("http://127.0.0.1:5000/", "", insecure).scheme == "http"
    assert parse_upstream("https://127.0.0.1:5000", "", insecure).scheme == "https"
    with pytest.raises(UnsupportedUpstreamRegistry, match="insecure-upstream"):
        parse_upstream("http://127.0.0.1:6000", "", insecure)
    for bad in ("ftp://host", "host/path", "", "https://"):
        with pytest.raises(UnsupportedUpstreamRegistry):
            parse_upstream(bad, "", insecure)


def test_named_registries_must_be_at_their_hosts() -> None:
    assert parse_upstream("public.ecr.aws", "ecr-public", frozenset()).host == "public.ecr.aws"
    assert parse_upstream("myreg.azurecr.io", "azure-container-registry", frozenset())
    with pytest.raises(UnsupportedUpstreamRegistry):
        parse_upstream("quay.io", "docker-hub", frozenset())
    assert infer_registry("https://registry-1.docker.io") == "docker-hub"
    assert infer_registry("ghcr.io") == "github-container-registry"
    assert infer_registry("127.0.0.1:5000") == ""


def test_secret_arns_name_a_secret_of_the_account() -> None:
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:ecr-pullthroughcache/hub-AbCdEf"
    assert secret_name(arn, ACCOUNT) == "ecr-pullthroughcache/hub-AbCdEf"
    assert secret_matches("ecr-pullthroughcache/hub", "ecr-pullthroughcache/hub-AbCdEf")
    assert secret_matches("ecr-pullthroughcache/hub", "ecr-pullthroughcache/hub")
    assert not secret_matches("ecr-pullthroughcache/hub", "ecr-pullthroughcache/hubby")
    with pytest.raises(ValueError):
        secret_name(arn, "999999999999")
    with pytest.raises(ParameterInvalid, match="credentialArn"):
        secret_name(arn.replace("ecr-pullthroughcache/", "other/"), ACCOUNT)
