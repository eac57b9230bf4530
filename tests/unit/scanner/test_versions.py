"""Version ordering per ecosystem, checked against vectors produced by the real tools.

dpkg and rpm vectors come from `make_version_vectors.py` (dpkg --compare-versions, rpm's
`rpm.vercmp`); the apk vectors are transcribed from apk-tools' own `test/version.data`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.backends.scanner.versions import compare, family, parse

DATA = Path(__file__).parent / "data"


def _load(name: str) -> dict:
    return json.loads((DATA / f"{name}_vectors.json").read_text())


def _ids(pairs: list) -> list[str]:
    return [f"{a} ? {b}" for a, b, _ in pairs]


DPKG = _load("dpkg")
RPM = _load("rpm")
APK = _load("apk")


@pytest.mark.parametrize(("a", "b", "expected"), DPKG["pairs"], ids=_ids(DPKG["pairs"]))
def test_dpkg_order_matches_dpkg(a: str, b: str, expected: int) -> None:
    assert compare("deb", a, b) == expected


@pytest.mark.parametrize("version", DPKG["invalid"])
def test_versions_dpkg_rejects_cannot_be_decided(version: str) -> None:
    assert parse("deb", version) is None
    assert compare("deb", version, "1.0") is None


@pytest.mark.parametrize(("a", "b", "expected"), RPM["pairs"], ids=_ids(RPM["pairs"]))
def test_rpm_order_matches_rpm(a: str, b: str, expected: int) -> None:
    assert compare("rpm", a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"), APK["pairs"] + APK["extra"], ids=_ids(APK["pairs"] + APK["extra"])
)
def test_apk_order_matches_apk_tools(a: str, b: str, expected: int) -> None:
    assert compare("apk", a, b) == expected


@pytest.mark.parametrize("version", APK["invalid"])
def test_invalid_apk_versions_cannot_be_decided(version: str) -> None:
    assert compare("apk", version, "1.0") is None


def test_vectors_are_a_few_hundred_pairs_each() -> None:
    assert len(DPKG["pairs"]) >= 300 and len(RPM["pairs"]) >= 300 and len(APK["pairs"]) >= 100


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("2.3.0", "2.31.0", -1),
        ("2.31.0", "2.31.0", 0),
        ("2.31.0rc1", "2.31.0", -1),
        ("1.0.post1", "1.0", 1),
        ("1!0.1", "2.0", 1),
        ("2.0.dev1", "2.0a1", -1),
        ("1.0", "1.0.0", 0),
    ],
)
def test_pep440(a: str, b: str, expected: int) -> None:
    assert compare("pep440", a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("0.0.7", "0.0.8", -1),
        ("4.17.20", "4.17.21", -1),
        ("1.0.0-beta.2", "1.0.0-beta.11", -1),
        ("1.0.0-rc.1", "1.0.0", -1),
        ("1.0.0+build5", "1.0.0", 0),
        ("v1.2.3", "1.2.3", 0),
        ("v0.0.0-20210101000000-abcdef123456", "v0.1.0", -1),
        ("v2.0.0+incompatible", "v1.9.9", 1),
    ],
)
def test_semver_for_npm_and_go(a: str, b: str, expected: int) -> None:
    assert compare("semver", a, b) == expected


@pytest.mark.parametrize(
    ("fam", "version"),
    [
        ("pep440", "not a version"),
        ("semver", "latest"),
        ("rpm", ""),
        ("deb", ""),
        ("apk", "1.0 "),
        ("deb", "1" * 300),
        ("nope", "1.0"),
    ],
)
def test_invalid_versions_are_undecidable_not_errors(fam: str, version: str) -> None:
    assert compare(fam, version, "1.0") is None


@pytest.mark.parametrize(
    ("ecosystem", "fam"),
    [
        ("Debian:12", "deb"),
        ("Ubuntu:22.04:LTS", "deb"),
        ("Alpine:v3.19", "apk"),
        ("AlmaLinux:9", "rpm"),
        ("Rocky Linux:8", "rpm"),
        ("PyPI", "pep440"),
        ("npm", "semver"),
        ("Go", "semver"),
        ("Maven", None),
        ("", None),
    ],
)
def test_family_of_ecosystem(ecosystem: str, fam: str | None) -> None:
    assert family(ecosystem) == fam
