"""Repository names and tags, by the OCI distribution-spec grammar."""

from __future__ import annotations

import re

from dockyard.domain.errors import NameInvalid, TagInvalid

_NAME = re.compile(
    r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
# ECR's limits on repository names (botocore model: min 2, max 256).
NAME_MIN, NAME_MAX = 2, 256


def validate_repository_name(name: str) -> str:
    if not (NAME_MIN <= len(name) <= NAME_MAX) or not _NAME.fullmatch(name):
        raise NameInvalid(f"invalid repository name: {name!r}")
    return name


def validate_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise TagInvalid(f"invalid tag: {tag!r}")
    return tag
