"""Lifecycle evaluation: which images a policy expires or archives at a given moment. Pure.

    evaluate(policy, images, now) -> [Action]     (policy from lifecycle_policy.parse_policy)

The documented rules (ECR User Guide, "How lifecycle policies work"), in the order they apply:

1. Rules are taken by priority, lowest number first; an image is acted on by one rule or none.
2. A rule *selects* the images of its storage class whose tags satisfy its tag status and lists.
   Among them its count type picks candidates: beyond the `countNumber` youngest
   (imageCountMoreThan), or older than `countNumber` days by push, pull or archive time.
3. A candidate is acted on unless a higher rule selected it (its tags matched there: it is
   shielded even if that rule kept it). Images acted on by higher rules still count for lower
   ones, since every rule counts over everything it selects.
4. After the rules: a manifest listed by an index that survives is kept (an image referenced by a
   manifest list cannot go before the list), and referrers (manifests with a `subject`, e.g.
   signatures and SBOMs) are never selected themselves but go with their subject.
5. Archived images cannot be expired before ARCHIVE_MINIMUM_DAYS in archive.

Images being restored (ACTIVATING) are in neither storage class: no rule selects them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import NamedTuple

from dockyard.domain.lifecycle_policy import (
    ARCHIVE_MINIMUM_DAYS,
    ActionType,
    CountType,
    Policy,
    Rule,
    StorageClass,
    TagStatus,
)

DAY = 86400.0


class ImageFacts(NamedTuple):
    """What the evaluator needs to know about one image of the repository.

    A named tuple: a repository's worth is built per evaluation (100,000 at a time), and a
    tuple is the cheapest record Python builds."""

    id: int
    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    status: str = "ACTIVE"  # ACTIVE, ARCHIVED or ACTIVATING
    last_pulled_at: float | None = None
    archived_at: float | None = None
    activated_at: float | None = None
    subject_digest: str | None = None
    parents: tuple[str, ...] = ()  # digests of the indexes of the repository that list it

    @property
    def storage_class(self) -> StorageClass | None:
        return _CLASS_OF_STATUS.get(self.status)

    @property
    def effective_pushed_at(self) -> float:
        """A restored image counts as pushed when it was restored."""
        activated = self.activated_at
        return self.pushed_at if activated is None or activated < self.pushed_at else activated


_DIGEST = attrgetter("digest")
_CLASS_OF_STATUS = {"ACTIVE": StorageClass.STANDARD, "ARCHIVED": StorageClass.ARCHIVE}


@dataclass(frozen=True, slots=True)
class Action:
    image: ImageFacts
    rule_priority: int
    type: ActionType


def evaluate(policy: Policy, images: Sequence[ImageFacts], now: float) -> list[Action]:
    """What the policy does to `images` at `now`, oldest image first."""
    digests = {image.digest for image in images}
    # Referrers of a subject in the repository follow it and are never selected themselves.
    pools: dict[StorageClass, list[ImageFacts]] = {c: [] for c in StorageClass}
    for image in images:
        storage_class = _CLASS_OF_STATUS.get(image.status)
        if storage_class is not None and image.subject_digest not in digests:
            pools[storage_class].append(image)
    marked: dict[str, tuple[ImageFacts, Rule]] = {}
    shielded: set[str] = set()
    for rule in policy.rules:
        selected = _select(rule, pools[rule.storage_class])
        for image in candidates(rule, selected, now):
            if image.digest not in shielded and image.digest not in marked:
                marked[image.digest] = (image, rule)
        shielded.update(map(_DIGEST, selected))
    _keep_children_of_surviving_indexes(marked, images)
    actions = [Action(image, rule.priority, rule.action) for image, rule in marked.values()]
    actions += _referrers_of(actions, images)
    return sorted(actions, key=lambda a: (a.image.pushed_at, a.image.id))


def selects(rule: Rule, image: ImageFacts) -> bool:
    """Whether the rule selects the image: its storage class, tag status and tag lists."""
    return image.storage_class is rule.storage_class and bool(_select(rule, [image]))


def _select(rule: Rule, pool: list[ImageFacts]) -> list[ImageFacts]:
    if rule.tag_status is TagStatus.UNTAGGED:
        return [image for image in pool if not image.tags]
    if rule.tag_status is TagStatus.ANY:
        return list(pool)
    # Each prefix or pattern must match one of the image's tags: one regular expression each,
    # searched over the tags joined by newlines (which a tag cannot contain).
    terms = [_line_start(p) for p in rule.prefixes] + [_whole_line(p) for p in rule.patterns]
    if len(terms) == 1:  # the common case, without a generator per image
        search = terms[0].search
        return [image for image in pool if image.tags and search("\n".join(image.tags))]
    return [image for image in pool if image.tags and _all_found(terms, "\n".join(image.tags))]


def _all_found(terms: list[re.Pattern[str]], joined: str) -> bool:
    return all(term.search(joined) for term in terms)


@lru_cache(maxsize=1024)
def _line_start(prefix: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(prefix), re.MULTILINE)


@lru_cache(maxsize=1024)
def _whole_line(pattern: str) -> re.Pattern[str]:
    # `*` matches any run of characters (also none); everything else is literal.
    body = "[^\n]*".join(re.escape(part) for part in pattern.split("*"))
    return re.compile("^" + body + "$", re.MULTILINE)


def candidates(rule: Rule, selected: list[ImageFacts], now: float) -> list[ImageFacts]:
    """The selected images the rule's count type would act on."""
    if rule.count_type is CountType.IMAGE_COUNT_MORE_THAN:
        found = sorted(selected, key=_push_order, reverse=True)[rule.count_number :]
    else:
        cutoff = now - rule.count_number * DAY
        if rule.count_type is CountType.SINCE_IMAGE_PUSHED:  # the common case, inlined
            found = [
                i
                for i in selected
                if i.pushed_at < cutoff and (i.activated_at is None or i.activated_at < cutoff)
            ]
        else:
            found = [i for i in selected if reference_time(rule.count_type, i) < cutoff]
    if rule.action is ActionType.EXPIRE and rule.storage_class is StorageClass.ARCHIVE:
        found = [i for i in found if not in_archive_minimum(i, now)]
    return found


def _push_order(image: ImageFacts) -> tuple[float, int]:
    return image.effective_pushed_at, image.id


def reference_time(count_type: CountType, image: ImageFacts) -> float:
    """The time a `since*` count type measures an image's age from."""
    if count_type is CountType.SINCE_IMAGE_TRANSITIONED:
        return image.archived_at if image.archived_at is not None else image.pushed_at
    if count_type is CountType.SINCE_IMAGE_PULLED:
        # The last recorded pull, or the restore if later, or the push if never pulled.
        seen = [t for t in (image.last_pulled_at, image.activated_at) if t is not None]
        return max(seen) if seen else image.pushed_at
    return image.effective_pushed_at


def in_archive_minimum(image: ImageFacts, now: float) -> bool:
    if image.status != "ARCHIVED" or image.archived_at is None:
        return False
    return now - image.archived_at < ARCHIVE_MINIMUM_DAYS * DAY


def _keep_children_of_surviving_indexes(
    marked: dict[str, tuple[ImageFacts, Rule]], images: Sequence[ImageFacts]
) -> None:
    """Unmark manifests an index still needs, until nothing changes (indexes may nest)."""
    children = [digest for digest, (image, _) in marked.items() if image.parents]
    if not children:
        return
    status = {image.digest: image.status for image in images}
    changed = True
    while changed:
        changed = False
        for digest in [d for d in children if d in marked]:
            image, rule = marked[digest]
            if any(
                parent in status and not _parent_lets_go(parent, rule.action, marked, status)
                for parent in image.parents
            ):
                del marked[digest]
                changed = True


def _parent_lets_go(
    parent: str,
    action: ActionType,
    marked: dict[str, tuple[ImageFacts, Rule]],
    status: dict[str, str],
) -> bool:
    fate = marked.get(parent)
    if fate is not None and fate[1].action is ActionType.EXPIRE:
        return True  # the index goes too
    if action is ActionType.TRANSITION:
        return fate is not None or status[parent] == "ARCHIVED"
    return False


def _referrers_of(actions: list[Action], images: Sequence[ImageFacts]) -> list[Action]:
    """Referrers take their subject's action and rule, and their own referrers theirs."""
    by_subject: dict[str, list[ImageFacts]] = {}
    for image in images:
        if image.subject_digest is not None:
            by_subject.setdefault(image.subject_digest, []).append(image)
    found: list[Action] = []
    pending = list(actions)
    while pending:
        action = pending.pop()
        for referrer in by_subject.get(action.image.digest, ()):
            if action.type is ActionType.TRANSITION and referrer.status != "ACTIVE":
                continue  # already archived (or being restored): nothing to move
            follower = Action(referrer, action.rule_priority, action.type)
            found.append(follower)
            pending.append(follower)
    return found
