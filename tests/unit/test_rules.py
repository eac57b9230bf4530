"""Tag immutability: the repository's mode and its exclusion filters (ECR's `*` wildcard)."""

from __future__ import annotations

import pytest

from dockyard.domain.models import Repository
from dockyard.domain.rules import matches_any, tag_is_immutable

EXCLUSIONS = ("latest", "dev-*", "*-rc")


def repo(mode: str, exclusions: tuple[str, ...] = ()) -> Repository:
    return Repository(1, "000000000000", "team/app", 0.0, mode, exclusions)


@pytest.mark.parametrize("tag", ["latest", "v1", "dev-1", "1.0-rc"])
def test_mutable_repository_lets_every_tag_move(tag: str) -> None:
    assert tag_is_immutable(repo("MUTABLE", EXCLUSIONS), tag) is False


@pytest.mark.parametrize("tag", ["latest", "v1", "dev-1", "1.0-rc"])
def test_immutable_repository_pins_every_tag_even_excluded_ones(tag: str) -> None:
    assert tag_is_immutable(repo("IMMUTABLE", EXCLUSIONS), tag) is True


@pytest.mark.parametrize(
    ("tag", "immutable"),
    [
        ("latest", False),  # an exact exclusion
        ("dev-1", False),
        ("dev-feature-x", False),
        ("dev-", False),  # `*` may match nothing
        ("1.0-rc", False),
        ("-rc", False),
        ("v1", True),
        ("latest2", True),  # filters match the whole tag, not a prefix
        ("xlatest", True),
        ("dev", True),
        ("xdev-1", True),
        ("1.0-rc1", True),
        ("Latest", True),  # tags are case-sensitive
    ],
)
def test_immutable_with_exclusion(tag: str, immutable: bool) -> None:
    assert tag_is_immutable(repo("IMMUTABLE_WITH_EXCLUSION", EXCLUSIONS), tag) is immutable


@pytest.mark.parametrize(("tag", "immutable"), [("latest", True), ("dev-2", True), ("v1", False)])
def test_mutable_with_exclusion_pins_only_the_excluded(tag: str, immutable: bool) -> None:
    assert tag_is_immutable(repo("MUTABLE_WITH_EXCLUSION", EXCLUSIONS), tag) is immutable


def test_immutable_with_exclusion_and_no_filters_pins_everything() -> None:
    assert tag_is_immutable(repo("IMMUTABLE_WITH_EXCLUSION"), "latest") is True


@pytest.mark.parametrize(
    ("tag", "filters", "expected"),
    [
        ("v1.0", ("v1.*",), True),
        ("v1x0", ("v1.*",), False),  # `.` is literal, only `*` is a wildcard
        ("a+b", ("a+b",), True),
        ("aab", ("a+b",), False),
        ("release-1-rc", ("release-*-rc",), True),
        ("release-rc", ("release-*-rc",), False),
        ("anything", ("*",), True),
        ("anything", (), False),
    ],
)
def test_wildcards_are_literal_except_star(
    tag: str, filters: tuple[str, ...], expected: bool
) -> None:
    assert matches_any(tag, filters) is expected
