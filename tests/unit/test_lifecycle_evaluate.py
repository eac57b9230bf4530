"""The pure lifecycle evaluator, against the ECR User Guide's examples and each documented rule.

Times are in days before NOW; every image is a small ImageFacts.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard.domain.lifecycle import DAY, ImageFacts, evaluate
from dockyard.domain.lifecycle_policy import ActionType, parse_policy

NOW = 1_800_000_000.0
_ids = iter(range(1, 10_000))


def image(
    name: str, tags: list[str] | tuple[str, ...] = (), pushed_days_ago: float = 1, **facts: Any
) -> ImageFacts:
    for key in ("last_pulled_at", "archived_at", "activated_at"):
        if key in facts and facts[key] is not None:
            facts[key] = NOW - facts[key] * DAY  # given in days ago
    return ImageFacts(
        next(_ids), f"sha256:{name}", tuple(tags), NOW - pushed_days_ago * DAY, **facts
    )


def run(
    text: str | dict[str, Any], images: list[ImageFacts], now: float = NOW
) -> dict[str, tuple[int, str]]:
    """digest name -> (rule priority, action) of what the policy does."""
    document = text if isinstance(text, str) else json.dumps(text)
    return {
        a.image.digest.removeprefix("sha256:"): (a.rule_priority, a.type.value)
        for a in evaluate(parse_policy(document), images, now)
    }


def rule(priority: int, selection: dict[str, Any], action: str = "expire") -> dict[str, Any]:
    act = {"type": action}
    if action == "transition":
        act["targetStorageClass"] = "archive"
    return {
        "rulePriority": priority,
        "description": f"Rule {priority}",
        "selection": selection,
        "action": act,
    }


def count(n: int, **selection: Any) -> dict[str, Any]:
    return {"countType": "imageCountMoreThan", "countNumber": n, **selection}


def since(kind: str, days: int, **selection: Any) -> dict[str, Any]:
    return {"countType": kind, "countUnit": "days", "countNumber": days, **selection}


# -- the User Guide's examples, literally ----------------------------------------------------------

EXAMPLE_REPOSITORY = [
    ("A", ["beta-1", "prod-1"], 10),
    ("B", ["beta-2", "prod-2"], 9),
    ("C", ["beta-3"], 8),
]

# "Example A" of "Filtering on multiple rules" (lifecycle_policy_examples), as published.
EXAMPLE_A_POLICY = """{
    "rules": [
        {
            "rulePriority": 1,
            "description": "Rule 1",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["prod"],
                "countType": "imageCountMoreThan",
                "countNumber": 1
            },
            "action": {
                "type": "expire"
            }
        },
        {
            "rulePriority": 2,
            "description": "Rule 2",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["beta"],
                "countType": "imageCountMoreThan",
                "countNumber": 1
            },
            "action": {
                "type": "expire"
            }
        }
    ]
}"""


def example_images() -> list[ImageFacts]:
    return [image(name, tags, age) for name, tags, age in EXAMPLE_REPOSITORY]


def test_user_guide_example_a() -> None:
    """Rule 1 marks A (prod, keep 1). Rule 2 sees A, B, C (beta), would mark A and B, but A is
    marked and B matched Rule 1's tagging: only A expires."""
    assert run(EXAMPLE_A_POLICY, example_images()) == {"A": (1, "expire")}


def test_user_guide_example_a_with_tag_patterns() -> None:
    """The current User Guide gives Example A with tagPatternList ["prod*"] / ["beta*"]."""
    text = EXAMPLE_A_POLICY.replace('"tagPrefixList": ["prod"]', '"tagPatternList": ["prod*"]')
    text = text.replace('"tagPrefixList": ["beta"]', '"tagPatternList": ["beta*"]')
    assert run(text, example_images()) == {"A": (1, "expire")}


def test_user_guide_example_b() -> None:
    """Example B swaps the priorities: Rule 1 (beta, keep 1) marks A and B; Rule 2 (prod)
    would mark A, already marked: A and B expire."""
    swapped = EXAMPLE_A_POLICY.replace('["prod"]', '["PLACEHOLDER"]')
    swapped = swapped.replace('["beta"]', '["prod"]').replace('["PLACEHOLDER"]', '["beta"]')
    assert run(swapped, example_images()) == {"A": (1, "expire"), "B": (1, "expire")}


def test_user_guide_filtering_on_image_age() -> None:
    text = {
        "rules": [
            rule(1, since("sinceImagePushed", 14, tagStatus="tagged", tagPatternList=["prod*"]))
        ]
    }
    images = [
        image("old", ["prod-1"], 15),
        image("young", ["prod-2"], 13),
        image("old-dev", ["dev-1"], 30),
    ]
    assert run(text, images) == {"old": (1, "expire")}


def test_user_guide_filtering_on_image_count() -> None:
    text = {"rules": [rule(1, count(1, tagStatus="untagged"))]}
    images = [image("u1", [], 3), image("u2", [], 2), image("u3", [], 1), image("t", ["v"], 9)]
    assert run(text, images) == {"u1": (1, "expire"), "u2": (1, "expire")}


def test_user_guide_multiple_tags_in_one_rule_all_must_match() -> None:
    """ "If you specify multiple tags, only the images with all specified tags are selected."""
    text = {
        "rules": [
            rule(
                1,
                since(
                    "sinceImagePushed", 5, tagStatus="tagged", tagPatternList=["alpha*", "beta*"]
                ),
            )
        ]
    }
    images = [
        image("A", ["alpha-1"], 12),
        image("B", ["beta-1"], 11),
        image("C", ["alpha-2", "beta-2"], 10),
        image("D", ["alpha-3", "beta-3"], 4),
    ]
    assert run(text, images) == {"C": (1, "expire")}


# -- count types -----------------------------------------------------------------------------


def test_image_count_more_than_keeps_the_youngest() -> None:
    images = [image(f"i{n}", [f"v{n}"], n) for n in range(1, 6)]  # i1 is the youngest
    assert run({"rules": [rule(1, count(2, tagStatus="any"))]}, images) == {
        "i3": (1, "expire"),
        "i4": (1, "expire"),
        "i5": (1, "expire"),
    }


def test_since_image_pushed_is_strictly_older_than_the_days() -> None:
    images = [
        image("older", pushed_days_ago=7.01),
        image("exact", pushed_days_ago=7),
        image("younger", pushed_days_ago=6),
    ]
    policy = {"rules": [rule(1, since("sinceImagePushed", 7, tagStatus="any"))]}
    assert run(policy, images) == {"older": (1, "expire")}
    # The same images a day later: the 7-day one goes too.
    assert set(run(policy, images, NOW + DAY)) == {"older", "exact"}


def test_since_image_pulled_uses_the_last_pull_else_push_else_restore() -> None:
    images = [
        image("pulled-long-ago", pushed_days_ago=100, last_pulled_at=40),
        image("pulled-lately", pushed_days_ago=100, last_pulled_at=5),
        image("never-pulled-old", pushed_days_ago=31),
        image("never-pulled-new", pushed_days_ago=10),
        image("restored-lately", pushed_days_ago=100, last_pulled_at=90, activated_at=2),
    ]
    policy = {"rules": [rule(1, since("sinceImagePulled", 30, tagStatus="any"), "transition")]}
    assert run(policy, images) == {
        "pulled-long-ago": (1, "transition"),
        "never-pulled-old": (1, "transition"),
    }


def test_since_image_transitioned_respects_the_archive_minimum() -> None:
    images = [
        image("archived-long", pushed_days_ago=400, status="ARCHIVED", archived_at=120),
        image("archived-recently", pushed_days_ago=400, status="ARCHIVED", archived_at=95),
        image("archived-new", pushed_days_ago=400, status="ARCHIVED", archived_at=30),
        image("active", pushed_days_ago=400),
    ]
    policy = {
        "rules": [
            rule(1, since("sinceImageTransitioned", 100, tagStatus="any", storageClass="archive"))
        ]
    }
    assert run(policy, images) == {"archived-long": (1, "expire")}
    ninety = {
        "rules": [
            rule(1, since("sinceImageTransitioned", 90, tagStatus="any", storageClass="archive"))
        ]
    }
    assert set(run(ninety, images)) == {"archived-long", "archived-recently"}


def test_archive_minimum_also_holds_for_count_rules_on_archived_images() -> None:
    images = [
        image(f"a{n}", pushed_days_ago=n, status="ARCHIVED", archived_at=n) for n in (10, 100, 200)
    ]
    policy = {
        "rules": [
            rule(1, since("sinceImageTransitioned", 90, tagStatus="any", storageClass="archive"))
        ]
    }
    assert set(run(policy, images)) == {"a100", "a200"}


# -- tag status, storage class, shielding -----------------------------------------------------


def test_tag_status_selects() -> None:
    images = [image("tagged", ["v1"], 10), image("untagged", [], 10)]
    for status, expected in (
        ("tagged", {"tagged"}),
        ("untagged", {"untagged"}),
        ("any", {"tagged", "untagged"}),
    ):
        selection = since("sinceImagePushed", 1, tagStatus=status)
        if status == "tagged":
            selection["tagPatternList"] = ["*"]
        assert set(run({"rules": [rule(1, selection)]}, images)) == expected


def test_prefix_and_pattern_matching_on_multi_tag_images() -> None:
    images = [
        image("multi", ["latest", "repo-production", "v2"], 10),
        image("prod-exact", ["prod"], 10),
        image("other", ["dev"], 10),
    ]
    by_pattern = {
        "rules": [
            rule(1, since("sinceImagePushed", 1, tagStatus="tagged", tagPatternList=["*prod*"]))
        ]
    }
    assert set(run(by_pattern, images)) == {"multi", "prod-exact"}
    by_prefix = {
        "rules": [rule(1, since("sinceImagePushed", 1, tagStatus="tagged", tagPrefixList=["prod"]))]
    }
    assert set(run(by_prefix, images)) == {"prod-exact"}
    both_prefixes = {
        "rules": [
            rule(1, since("sinceImagePushed", 1, tagStatus="tagged", tagPrefixList=["latest", "v"]))
        ]
    }
    assert set(run(both_prefixes, images)) == {"multi"}


def test_a_guard_rule_shields_shared_digests() -> None:
    """prod images are kept by a high-priority guard (countNumber 9999); dev-only ones expire."""
    images = [
        image("both", ["dev-1", "prod-1"], 30),
        image("dev-only", ["dev-2"], 29),
        image("dev-new", ["dev-3"], 1),
    ]
    policy = {
        "rules": [
            rule(1, count(9999, tagStatus="tagged", tagPrefixList=["prod"])),
            rule(2, count(1, tagStatus="tagged", tagPrefixList=["dev"])),
        ]
    }
    assert run(policy, images) == {"dev-only": (2, "expire")}


def test_images_marked_by_higher_rules_still_count_for_lower_ones() -> None:
    """Once rule 1 expires C, rule 2 (keep 2 of x) still counts C: it keeps C and B and expires
    A. Not counting C would keep A and B and expire nothing."""
    images = [image("A", ["x"], 3), image("B", ["x"], 2), image("C", ["x", "bad"], 1)]
    policy = {
        "rules": [
            rule(
                1,
                {
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 1,
                    "tagStatus": "tagged",
                    "tagPrefixList": ["bad"],
                },
            ),
            rule(2, count(2, tagStatus="tagged", tagPrefixList=["x"])),
        ]
    }
    assert run(policy, images) == {"A": (2, "expire")}  # C is only a day old: rule 1 waits
    assert run(policy, images, NOW + DAY) == {"C": (1, "expire"), "A": (2, "expire")}


def test_each_storage_class_has_its_own_rules() -> None:
    images = [
        image("std", [], 200),
        image("arc", [], 200, status="ARCHIVED", archived_at=150),
        image("restoring", [], 200, status="ACTIVATING", archived_at=150, activated_at=0),
    ]
    policy = {
        "rules": [
            rule(1, since("sinceImagePushed", 100, tagStatus="untagged"), "transition"),
            rule(
                2,
                since("sinceImageTransitioned", 120, tagStatus="untagged", storageClass="archive"),
            ),
        ]
    }
    assert run(policy, images) == {"std": (1, "transition"), "arc": (2, "expire")}


def test_a_restored_image_counts_from_its_restore() -> None:
    images = [image("restored", [], 200, activated_at=5), image("old", [], 50)]
    policy = {"rules": [rule(1, since("sinceImagePushed", 30, tagStatus="any"))]}
    assert run(policy, images) == {"old": (1, "expire")}


# -- referrers and indexes -------------------------------------------------------------------


def test_referrers_go_with_their_subject_and_are_never_selected_alone() -> None:
    subject = image("subject", [], 50)
    images = [
        subject,
        image("kept", ["v"], 1),
        image("signature", [], 50, subject_digest=subject.digest),
        image("sbom", [], 1, subject_digest=subject.digest),
        image("sbom-signature", [], 1, subject_digest="sha256:sbom"),
        image("kept-signature", [], 50, subject_digest="sha256:kept"),
    ]
    policy = {"rules": [rule(4, since("sinceImagePushed", 10, tagStatus="any"))]}
    assert run(policy, images) == {
        "subject": (4, "expire"),
        "signature": (4, "expire"),
        "sbom": (4, "expire"),
        "sbom-signature": (4, "expire"),
    }


def test_archiving_a_subject_archives_its_active_referrers() -> None:
    subject = image("subject", ["v1"], 50)
    images = [subject, image("sig", [], 50, subject_digest=subject.digest)]
    policy = {"rules": [rule(1, since("sinceImagePushed", 10, tagStatus="any"), "transition")]}
    assert run(policy, images) == {"subject": (1, "transition"), "sig": (1, "transition")}


def test_an_orphan_referrer_is_an_ordinary_image() -> None:
    images = [image("orphan", [], 50, subject_digest="sha256:gone")]
    policy = {"rules": [rule(1, since("sinceImagePushed", 10, tagStatus="any"))]}
    assert run(policy, images) == {"orphan": (1, "expire")}


def test_children_of_a_surviving_index_are_kept() -> None:
    index = image("index", ["v1"], 30)
    images = [
        index,
        image("amd64", [], 30, parents=(index.digest,)),
        image("arm64", [], 30, parents=(index.digest,)),
        image("loose", [], 30),
    ]
    untagged = {"rules": [rule(1, since("sinceImagePushed", 7, tagStatus="untagged"))]}
    assert run(untagged, images) == {"loose": (1, "expire")}
    everything = {"rules": [rule(1, since("sinceImagePushed", 7, tagStatus="any"))]}
    assert set(run(everything, images)) == {"index", "amd64", "arm64", "loose"}


def test_children_of_nested_indexes_wait_for_the_outermost() -> None:
    outer = image("outer", ["v"], 30)
    inner = image("inner", [], 30, parents=(outer.digest,))
    leaf = image("leaf", [], 30, parents=(inner.digest,))
    policy = {
        "rules": [
            rule(1, count(1, tagStatus="tagged", tagPrefixList=["v"])),
            rule(2, since("sinceImagePushed", 7, tagStatus="untagged")),
        ]
    }
    assert run(policy, [outer, inner, leaf]) == {}


def test_children_may_be_archived_with_their_index() -> None:
    index = image("index", ["v1"], 30)
    child = image("child", [], 30, parents=(index.digest,))
    policy = {"rules": [rule(1, since("sinceImagePushed", 7, tagStatus="any"), "transition")]}
    assert run(policy, [index, child]) == {"index": (1, "transition"), "child": (1, "transition")}


def test_actions_come_oldest_first_and_each_image_once() -> None:
    images = [image(f"i{n}", [f"t{n}", f"u{n}"], n) for n in (5, 3, 9, 1)]
    actions = evaluate(
        parse_policy(json.dumps({"rules": [rule(1, count(1, tagStatus="any"))]})), images, NOW
    )
    assert [a.image.digest for a in actions] == ["sha256:i9", "sha256:i5", "sha256:i3"]
    assert all(a.type is ActionType.EXPIRE for a in actions)
