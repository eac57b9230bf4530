"""Lifecycle policy grammar: every validation rule, with AWS's message frame and details."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.domain.errors import LifecyclePolicyInvalid
from dockyard.domain.lifecycle_policy import (
    ActionType,
    CountType,
    StorageClass,
    TagStatus,
    parse_policy,
)

FRAME = (
    "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
    "'Lifecycle policy validation failure: "
)


def rule(priority: int = 1, **selection: Any) -> dict[str, Any]:
    action = selection.pop("action", {"type": "expire"})
    base = {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}
    return {"rulePriority": priority, "selection": {**base, **selection}, "action": action}


def policy(*rules: dict[str, Any]) -> str:
    return json.dumps({"rules": list(rules)})


def failure(text: str) -> str:
    with pytest.raises(LifecyclePolicyInvalid) as caught:
        parse_policy(text)
    message = caught.value.message
    assert message.startswith(FRAME) and message.endswith("'")
    return message[len(FRAME) : -1]


def test_full_grammar_parses() -> None:
    parsed = parse_policy(
        policy(
            {
                "rulePriority": 3,
                "description": "old prod",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["prod*"],
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 14,
                },
                "action": {"type": "transition", "targetStorageClass": "archive"},
            },
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["v1", "v2"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 5,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 7,
                "selection": {
                    "tagStatus": "any",
                    "storageClass": "archive",
                    "countType": "sinceImageTransitioned",
                    "countUnit": "days",
                    "countNumber": 90,
                },
                "action": {"type": "expire"},
            },
        )
    )
    assert [r.priority for r in parsed.rules] == [1, 3, 7]  # sorted, gaps allowed
    first, second, third = parsed.rules
    assert first.prefixes == ("v1", "v2") and first.tag_status is TagStatus.TAGGED
    assert second.patterns == ("prod*",) and second.action is ActionType.TRANSITION
    assert second.count_type is CountType.SINCE_IMAGE_PUSHED and second.description == "old prod"
    assert (
        third.storage_class is StorageClass.ARCHIVE and first.storage_class is StorageClass.STANDARD
    )


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("not json", "Could not map policyString into LifecyclePolicy."),
        (
            "[]",
            'instance type (array) does not match any allowed primitive type (allowed: ["object"])',
        ),
        ("{}", 'object has missing required properties (["rules"])'),
        (
            '{"rules": [], "x": 1, "foo": 2}',
            'object instance has properties which are not allowed by the schema: (["foo","x"])',
        ),
        (
            '{"rules": []}',
            ("array is too short: must have at least 1 elements but instance has 0 elements"),
        ),
        (
            policy(*[rule(i, tagStatus="tagged", tagPrefixList=[f"p{i}"]) for i in range(1, 52)]),
            "array is too long: must have at most 50 elements but instance has 51 elements",
        ),
        (
            policy({"rulePriority": 1, "selection": {}}),
            'object has missing required properties (["action"])',
        ),
        (
            policy(rule(0)),
            "numeric instance is lower than the required minimum (minimum: 1, found: 0)",
        ),
        (
            policy(rule("1")),
            'instance type (string) does not match any allowed primitive type (allowed: ["integer"])',
        ),
        (
            policy(rule(1, countNumber=0)),
            "numeric instance is lower than the required minimum (minimum: 1, found: 0)",
        ),
        (
            policy(rule(1, countNumber=1.5)),
            'instance type (number) does not match any allowed primitive type (allowed: ["integer"])',
        ),
        (
            policy(rule(1, countNumber=True)),
            'instance type (boolean) does not match any allowed primitive type (allowed: ["integer"])',
        ),
        (
            policy(rule(1, tagStatus="bar")),
            'instance value (bar) not found in enum :(possible values: ["any","tagged","untagged"])',
        ),
        (
            policy(rule(1, countType="imageCountLessThan")),
            (
                "instance value (imageCountLessThan) not found in enum :(possible values: "
                '["imageCountMoreThan","sinceImagePulled","sinceImagePushed","sinceImageTransitioned"])'
            ),
        ),
        (
            policy(rule(1, countType="sinceImagePushed", countUnit="hours")),
            'instance value (hours) not found in enum :(possible values: ["days"])',
        ),
        (
            policy(rule(1, countType="sinceImagePushed", countUnit=None)),
            "instance failed to match exactly one schema (matched 0 out of 2)",
        ),
        (
            policy(rule(1, action={"type": "transition", "targetStorageClass": None})),
            "instance failed to match exactly one schema (matched 0 out of 2)",
        ),
        (
            policy(rule(1, action={"type": "delete"})),
            'instance value (delete) not found in enum :(possible values: ["expire","transition"])',
        ),
        (
            policy(rule(1, storageClass="glacier")),
            'instance value (glacier) not found in enum :(possible values: ["archive","standard"])',
        ),
        (
            policy(rule(1, foo=1)),
            'object instance has properties which are not allowed by the schema: (["foo"])',
        ),
        (
            policy(rule(1, tagStatus=None)),
            'instance type (null) does not match any allowed primitive type (allowed: ["string"])',
        ),
        (
            policy(rule(1, tagStatus="tagged", tagPrefixList=[])),
            "array is too short: must have at least 1 elements but instance has 0 elements",
        ),
        (
            policy(rule(1, tagStatus="tagged", tagPrefixList=[1])),
            'instance type (integer) does not match any allowed primitive type (allowed: ["string"])',
        ),
    ],
)
def test_schema_errors(text: str, detail: str) -> None:
    assert failure(text) == detail


def test_tagged_needs_exactly_one_list() -> None:
    assert "requires exactly one of tagPatternList and tagPrefixList" in failure(
        policy(rule(1, tagStatus="tagged"))
    )
    assert "requires exactly one of" in failure(
        policy(rule(1, tagStatus="tagged", tagPrefixList=["a"], tagPatternList=["b*"]))
    )


@pytest.mark.parametrize("status", ["untagged", "any"])
def test_untagged_and_any_take_no_list(status: str) -> None:
    assert "tagPrefixList can only be used with tagStatus tagged" in failure(
        policy(rule(1, tagStatus=status, tagPrefixList=["a"]))
    )


def test_at_most_four_wildcards() -> None:
    # The User Guide's own examples.
    parse_policy(policy(rule(1, tagStatus="tagged", tagPatternList=["*test*1*2*3", "test*1*2*3*"])))
    assert "has more than 4 wildcards" in failure(
        policy(rule(1, tagStatus="tagged", tagPatternList=["test*1*2*3*4*5*6"]))
    )


def test_priorities_are_unique() -> None:
    assert failure(policy(rule(2), rule(2, tagStatus="any"))) == (
        "rulePriority must be unique: 2 is used more than once"
    )


def test_any_only_at_the_lowest_priority() -> None:
    parse_policy(policy(rule(1), rule(9, tagStatus="any")))
    assert "a rule with tagStatus any must have the highest rulePriority" in failure(
        policy(rule(1, tagStatus="any"), rule(2))
    )
    # Per storage class: archive any-rules may follow a standard any-rule.
    parse_policy(
        policy(
            rule(1, tagStatus="any"),
            rule(
                2,
                tagStatus="any",
                storageClass="archive",
                countType="sinceImageTransitioned",
                countUnit="days",
                countNumber=90,
            ),
        )
    )


def test_one_untagged_rule_and_unique_prefixes_per_storage_class() -> None:
    assert "only one rule may select untagged images" in failure(policy(rule(1), rule(2)))
    assert "tag prefix 'prod' is used by the rules with priority 1 and 2" in failure(
        policy(
            rule(1, tagStatus="tagged", tagPrefixList=["prod"]),
            rule(2, tagStatus="tagged", tagPrefixList=["dev", "prod"]),
        )
    )
    # An untagged rule for each storage class is allowed.
    parse_policy(
        policy(
            rule(1),
            rule(
                2,
                storageClass="archive",
                countType="sinceImageTransitioned",
                countUnit="days",
                countNumber=90,
            ),
        )
    )


@pytest.mark.parametrize("count_type", ["sinceImagePushed", "sinceImagePulled"])
def test_count_unit_goes_with_since_types_only(count_type: str) -> None:
    action = {"type": "transition", "targetStorageClass": "archive"}
    assert "countUnit is required with countType" in failure(
        policy(rule(1, countType=count_type, action=action))
    )
    assert "countUnit cannot be used with countType imageCountMoreThan" in failure(
        policy(rule(1, countUnit="days"))
    )


def test_archive_storage_class_pairs_with_since_image_transitioned() -> None:
    assert "storageClass archive goes with countType sinceImageTransitioned" in failure(
        policy(rule(1, countType="sinceImageTransitioned", countUnit="days", countNumber=90))
    )
    assert "storageClass archive goes with countType sinceImageTransitioned" in failure(
        policy(rule(1, storageClass="archive"))
    )


def test_archived_images_cannot_expire_before_90_days() -> None:
    text = policy(
        rule(
            1,
            storageClass="archive",
            countType="sinceImageTransitioned",
            countUnit="days",
            countNumber=89,
        )
    )
    assert "at least 90 days" in failure(text)


def test_target_storage_class_iff_transition() -> None:
    assert "targetStorageClass is required with action type transition" in failure(
        policy(rule(1, action={"type": "transition"}))
    )
    assert "targetStorageClass is required with action type transition" in failure(
        policy(rule(1, action={"type": "expire", "targetStorageClass": "archive"}))
    )


def test_count_types_pair_with_their_documented_actions() -> None:
    assert "countType sinceImagePulled cannot be used with action type expire" in failure(
        policy(rule(1, countType="sinceImagePulled", countUnit="days"))
    )
    assert "countType sinceImageTransitioned cannot be used with action type transition" in (
        failure(
            policy(
                rule(
                    1,
                    storageClass="archive",
                    countType="sinceImageTransitioned",
                    countUnit="days",
                    countNumber=90,
                    action={"type": "transition", "targetStorageClass": "archive"},
                )
            )
        )
    )
