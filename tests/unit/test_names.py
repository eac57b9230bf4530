"""Repository names and tags by the OCI distribution-spec grammar, with ECR's length limits."""

from __future__ import annotations

import pytest

from dockyard.domain.errors import NameInvalid, TagInvalid
from dockyard.domain.names import NAME_MAX, NAME_MIN, validate_repository_name, validate_tag


def test_ecr_length_limits() -> None:
    assert (NAME_MIN, NAME_MAX) == (2, 256)


@pytest.mark.parametrize(
    "name",
    [
        "ab",  # two characters: ECR's minimum
        "a/b",  # components may be one character; the limit is on the whole name
        "a__b",
        "a_b",
        "a--b",
        "a---b",  # any run of dashes separates
        "a.b",
        "a-b.c_d__e",
        "library/ubuntu",
        "team/project/service",
        "0/1",
        "a" * 256,
        "ab/" * 85 + "a",  # 256 characters, slashes included
    ],
)
def test_valid_repository_names(name: str) -> None:
    assert validate_repository_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a",  # one character: ECR's minimum is 2
        "a" * 257,
        "ab/" * 85 + "ab",  # 257 characters, slashes included
        "Abc",  # uppercase
        "abC",
        "-ab",  # leading separators
        ".ab",
        "_ab",
        "ab-",  # trailing separators
        "ab.",
        "ab_",
        "a___b",  # only one or two underscores separate
        "a..b",
        "a._b",
        "/ab",
        "ab/",
        "a//b",
        "a/-b",
        "a/b_",
        "a b",
        "a:b",
        "a@b",
        "ab\n",
        "ü-name",
    ],
)
def test_invalid_repository_names(name: str) -> None:
    with pytest.raises(NameInvalid):
        validate_repository_name(name)


@pytest.mark.parametrize(
    "tag",
    ["latest", "v1.2.3", "1", "_private", "UPPER", "a-b_c.d", "A" * 128, "0" + "-" * 127],
)
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag",
    [
        "",
        "a" * 129,
        ".hidden",
        "-dash",
        "a/b",
        "a:b",
        "a b",
        "a+b",
        "latest\n",
        "ünicode",
        "sha256@x",
    ],
)
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(TagInvalid):
        validate_tag(tag)
