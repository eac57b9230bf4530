"""Pure business rules shared by both protocols."""

from __future__ import annotations

import re
from functools import lru_cache

from dockyard.domain.models import Repository


@lru_cache(maxsize=256)
def _wildcard(pattern: str) -> re.Pattern[str]:
    # ECR exclusion filters know a single wildcard, `*`; everything else is literal.
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def matches_any(tag: str, filters: tuple[str, ...]) -> bool:
    return any(_wildcard(f).fullmatch(tag) for f in filters)


def tag_is_immutable(repo: Repository, tag: str) -> bool:
    """Whether pushing `tag` may move it away from the image it names today."""
    mode = repo.tag_mutability
    if mode == "IMMUTABLE":
        return True
    if mode == "IMMUTABLE_WITH_EXCLUSION":
        return not matches_any(tag, repo.mutability_exclusions)
    if mode == "MUTABLE_WITH_EXCLUSION":
        return matches_any(tag, repo.mutability_exclusions)
    return False
