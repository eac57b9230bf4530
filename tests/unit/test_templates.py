"""Which repository creation template applies: implied "/", longest prefix, ROOT, appliedFor."""

from __future__ import annotations

import pytest

from dockyard.domain.templates import AppliedFor, CreationTemplate, covers, matching_template

PUSH, CACHE = AppliedFor.CREATE_ON_PUSH, AppliedFor.PULL_THROUGH_CACHE


def template(prefix: str, *applied: AppliedFor) -> CreationTemplate:
    return CreationTemplate(prefix, applied or (PUSH,))


@pytest.mark.parametrize(
    ("prefix", "name", "expected"),
    [
        ("prod", "prod/app", True),
        ("prod", "prod/team/app", True),
        ("prod", "prod", True),
        ("prod", "production", False),
        ("prod/", "prod/app", True),
        ("ROOT", "anything/at/all", True),
        ("prod/team", "prod/other", False),
    ],
)
def test_covers(prefix: str, name: str, expected: bool) -> None:
    assert covers(prefix, name) is expected


def test_longest_prefix_wins_and_root_ranks_last() -> None:
    templates = [template("ROOT"), template("prod"), template("prod/team")]
    assert matching_template(templates, "prod/team/app", PUSH).prefix == "prod/team"
    assert matching_template(templates, "prod/other", PUSH).prefix == "prod"
    assert matching_template(templates, "dev/app", PUSH).prefix == "ROOT"


def test_only_templates_for_the_scenario_apply() -> None:
    templates = [template("prod", CACHE), template("ROOT", PUSH, CACHE)]
    assert matching_template(templates, "prod/app", PUSH).prefix == "ROOT"
    assert matching_template(templates, "prod/app", CACHE).prefix == "prod"
    assert matching_template(templates, "prod/app", AppliedFor.REPLICATION) is None
    assert matching_template([], "prod/app", PUSH) is None
