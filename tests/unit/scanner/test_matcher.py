"""Matching inventories against the index: OSV ranges, keying, dedupe, severity, ECR shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import botocore.session
import pytest
from tests.unit.scanner.osv_fixtures import zip_fixtures

from dockyard.api.ecr.findings import (
    ImageContext,
    basic_findings,
    enhanced_findings,
)
from dockyard.api.ecr.serialize import serialize_shape
from dockyard.backends.scanner.matcher import match, severity_counts, uri_for
from dockyard.backends.scanner.matcher_ranges import evaluate
from dockyard.backends.scanner.osv_index import VulnIndex, import_sources
from dockyard.domain.scanning import Distro, Finding, Inventory, Package

V3_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
V3_MEDIUM = "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:N"  # 5.9
V2_HIGH = "AV:N/AC:L/Au:N/C:P/I:P/A:P"  # 7.5
DEBIAN = Distro("debian", "12", "Debian:12")


def deb(name: str, version: str, source: str = "", source_version: str = "") -> Package:
    return Package(
        "Debian:12",
        name,
        version,
        source_name=source,
        source_version=source_version,
        package_manager="dpkg",
    )


def events(*pairs: tuple[str, str]) -> list[dict]:
    return [{"type": "ECOSYSTEM", "events": [{k: v} for k, v in pairs]}]


def rec(
    vid: str,
    name: str,
    ranges: list | None = None,
    eco: str = "Debian:12",
    versions: list | None = None,
    specific: dict | None = None,
    **extra,
) -> dict:
    affected = {
        "package": {"ecosystem": eco, "name": name},
        "ranges": ranges if ranges is not None else events(("introduced", "0"), ("fixed", "2.0-1")),
    }
    if versions is not None:
        affected["versions"] = versions
    if specific is not None:
        affected["ecosystem_specific"] = specific
    return {"id": vid, "modified": "2024-01-01T00:00:00Z", "affected": [affected], **extra}


def index_of(tmp_path: Path, *records: dict) -> VulnIndex:
    src = tmp_path / "records"
    src.mkdir(exist_ok=True)
    for r in records:
        (src / f"{r['id']}.json").write_text(json.dumps(r))
    import_sources([src], tmp_path / "data", replace=True)
    return VulnIndex(tmp_path / "data")


def inventory(*packages: Package) -> Inventory:
    return Inventory(DEBIAN, packages)


# -- the OSV range algorithm ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ranges", "versions", "version", "affected", "fixed"),
    [
        (events(("introduced", "0"), ("fixed", "2.0")), [], "1.9", True, "2.0"),
        (events(("introduced", "0"), ("fixed", "2.0")), [], "2.0", False, ""),
        (events(("introduced", "1.5"), ("fixed", "2.0")), [], "1.4", False, ""),
        (events(("introduced", "1.5"), ("fixed", "2.0")), [], "1.5", True, "2.0"),
        (events(("introduced", "0"), ("last_affected", "1.8")), [], "1.8", True, ""),
        (events(("introduced", "0"), ("last_affected", "1.8")), [], "1.8.1", False, ""),
        (events(("introduced", "0")), [], "99", True, ""),  # unfixed
        (
            events(
                ("introduced", "1.0"), ("fixed", "1.2"), ("introduced", "2.0"), ("fixed", "2.3")
            ),
            [],
            "2.1",
            True,
            "2.3",
        ),
        (
            events(
                ("introduced", "1.0"), ("fixed", "1.2"), ("introduced", "2.0"), ("fixed", "2.3")
            ),
            [],
            "1.5",
            False,
            "",
        ),
        (events(("fixed", "2.3"), ("introduced", "2.0")), [], "2.1", True, "2.3"),  # any order
        (events(("introduced", "0"), ("limit", "1.5")), [], "1.4", True, ""),
        (events(("introduced", "0"), ("limit", "1.5")), [], "1.6", False, ""),
        (events(("introduced", "0"), ("limit", "*")), [], "1.6", True, ""),
        (
            events(("introduced", "1.0"), ("fixed", "1.2")) + events(("introduced", "3.0")),
            [],
            "3.1",
            True,
            "",
        ),  # second range, unfixed
        ([], ["1.7"], "1.7", True, ""),  # versions list only
        ([], ["1.7"], "1.8", False, ""),
        (events(("introduced", "0")), ["not-a-version"], "not-a-version", True, ""),
    ],
)
def test_osv_range_evaluation(
    ranges: list, versions: list, version: str, affected: bool, fixed: str
) -> None:
    verdict = evaluate(frozenset(versions), tuple(ranges), version, "pep440")
    assert (verdict.affected, verdict.fixed) == (affected, fixed)


def test_unparseable_versions_cannot_be_decided() -> None:
    ranges = tuple(events(("introduced", "0"), ("fixed", "2.0")))
    assert evaluate(frozenset(), ranges, "garbage!", "pep440").affected is None
    bad_event = tuple(events(("introduced", "0"), ("fixed", "garbage!")))
    assert evaluate(frozenset(), bad_event, "1.0", "pep440").affected is None


# -- keying: source packages, ecosystems, basic vs enhanced ------------------------------------


def test_os_packages_match_on_source_name_and_version(tmp_path: Path) -> None:
    index = index_of(
        tmp_path,
        rec(
            "DEBIAN-CVE-2024-1",
            "openssl",
            events(("introduced", "0"), ("fixed", "3.0.13-1~deb12u1")),
        ),
    )
    found = match(
        inventory(
            deb("libssl3", "3.0.11-1~deb12u2", "openssl"),
            deb("openssl", "3.0.11-1~deb12u2"),
            deb("libssl3-fixed", "3.0.13-1~deb12u1", "openssl"),
        ),
        index,
        False,
    )
    assert [(f.id, f.package.name, f.fixed_version) for f in found] == [
        ("CVE-2024-1", "libssl3", "3.0.13-1~deb12u1")
    ]  # one finding per source package


def test_binary_names_do_not_match_debian_records(tmp_path: Path) -> None:
    index = index_of(tmp_path, rec("X-1", "libssl3"))
    assert match(inventory(deb("libssl3", "1.0-1", "openssl")), index, False) == []


def test_source_version_is_compared_not_the_binary_version(tmp_path: Path) -> None:
    index = index_of(
        tmp_path, rec("X-1", "glibc", events(("introduced", "0"), ("fixed", "2.36-9+deb12u3")))
    )
    libc = deb("libc6", "2.36-9+deb12u3+b1", "glibc", "2.36-9+deb12u2")
    assert [f.id for f in match(inventory(libc), index, False)] == ["X-1"]


def test_rpm_matches_source_and_binary_names(tmp_path: Path) -> None:
    eco = "AlmaLinux:9"
    index = index_of(
        tmp_path,
        rec("ALSA-1", "openssl", events(("introduced", "0"), ("fixed", "1:3.0.7-27.el9")), eco=eco),
        rec(
            "ALSA-2",
            "openssl-libs",
            events(("introduced", "0"), ("fixed", "1:3.0.7-28.el9")),
            eco=eco,
        ),
    )
    libs = Package(
        eco, "openssl-libs", "1:3.0.7-6.el9_2", source_name="openssl", package_manager="rpm"
    )
    assert sorted(f.id for f in match(Inventory(None, (libs,)), index, False)) == [
        "ALSA-1",
        "ALSA-2",
    ]


def test_other_releases_do_not_match(tmp_path: Path) -> None:
    index = index_of(tmp_path, rec("X-1", "tar", eco="Debian:11"))
    assert match(inventory(deb("tar", "1.0-1")), index, False) == []


def test_language_packages_only_in_enhanced_scans(tmp_path: Path) -> None:
    index = index_of(
        tmp_path,
        rec(
            "PYSEC-1",
            "requests",
            events(("introduced", "0"), ("fixed", "2.31.0")),
            eco="PyPI",
            aliases=["CVE-2023-32681"],
        ),
    )
    pkg = Package(
        "PyPI",
        "Requests",
        "2.25.0",
        package_manager="python",
        file_path="usr/lib/python3/dist-packages/requests-2.25.0.dist-info",
    )
    assert match(inventory(pkg), index, False) == []
    (finding,) = match(inventory(pkg), index, True)
    assert (finding.id, finding.fixed_version) == ("CVE-2023-32681", "2.31.0")


def test_packages_without_a_comparator_are_skipped(tmp_path: Path) -> None:
    index = index_of(tmp_path, rec("M-1", "g:a", eco="Maven"))
    assert (
        match(inventory(Package("Maven", "g:a", "1.0", package_manager="java")), index, True) == []
    )


# -- dedupe -----------------------------------------------------------------------------------


def test_records_of_one_cve_merge_with_the_lowest_fix(tmp_path: Path) -> None:
    index = index_of(
        tmp_path,
        rec(
            "DSA-5000-1",
            "openssl",
            events(("introduced", "0"), ("fixed", "3.0.13-1~deb12u2")),
            upstream=["CVE-2024-1", "DEBIAN-CVE-2024-1", "CVE-2024-2"],
            summary="openssl - sec",
        ),
        rec(
            "DEBIAN-CVE-2024-1",
            "openssl",
            events(("introduced", "0"), ("fixed", "3.0.13-1~deb12u1")),
            upstream=["CVE-2024-1"],
            details="the flaw itself",
        ),
        rec("CVE-2024-1", "openssl", [], eco="Debian:13"),
    )
    found = match(inventory(deb("openssl", "3.0.11-1~deb12u2")), index, False)
    assert [(f.id, f.fixed_version) for f in found] == [
        ("CVE-2024-1", "3.0.13-1~deb12u1"),
        ("CVE-2024-2", "3.0.13-1~deb12u2"),
    ]
    assert found[0].description == "the flaw itself"
    assert found[0].advisory_id == "DEBIAN-CVE-2024-1"
    assert "DSA-5000-1" in found[0].aliases and "CVE-2024-1" not in found[0].aliases
    assert found[1].description == "openssl - sec"


def test_unfixed_everywhere_gives_an_empty_fixed_version(tmp_path: Path) -> None:
    index = index_of(
        tmp_path,
        rec(
            "DEBIAN-CVE-2024-9",
            "zlib",
            events(("introduced", "0")),
            versions=["1:1.2.13.dfsg-1"],
            specific={"urgency": "not yet assigned"},
        ),
    )
    (finding,) = match(inventory(deb("zlib1g", "1:1.2.13.dfsg-1", "zlib")), index, False)
    assert (finding.id, finding.fixed_version, finding.severity) == ("CVE-2024-9", "", "UNDEFINED")
    assert finding.vendor_severity == "not yet assigned"


def test_records_without_a_cve_keep_their_id(tmp_path: Path) -> None:
    index = index_of(tmp_path, rec("DLA-3051-1", "tzdata"))
    assert [f.id for f in match(inventory(deb("tzdata", "1.0-1")), index, False)] == ["DLA-3051-1"]


# -- severity (scanning.md §6.6) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("specific", "extra", "policy", "expected"),
    [
        (
            {"urgency": "unimportant"},
            {"severity": [{"type": "CVSS_V3", "score": V3_CRITICAL}]},
            "ecr-native",
            "INFORMATIONAL",
        ),
        (
            {"urgency": "low"},
            {"severity": [{"type": "CVSS_V3", "score": V3_CRITICAL}]},
            "ecr-native",
            "CRITICAL",
        ),
        ({"urgency": "low"}, {}, "ecr-native", "LOW"),
        ({"urgency": "medium**"}, {}, "ecr-native", "MEDIUM"),
        (
            {"urgency": "high"},
            {"severity": [{"type": "CVSS_V2", "score": V2_HIGH}]},
            "ecr-native",
            "HIGH",
        ),
        (
            {},
            {"severity": [{"type": "CVSS_V2", "score": "AV:L/AC:L/Au:N/C:P/I:P/A:P"}]},
            "ecr-native",
            "MEDIUM",
        ),
        ({"urgency": "end-of-life"}, {}, "ecr-native", "UNDEFINED"),
        ({}, {"severity": [{"type": "CVSS_V3", "score": V3_MEDIUM}]}, "ecr-native", "MEDIUM"),
        (
            {},
            {"severity": [{"type": "Ubuntu", "score": "negligible"}]},
            "ecr-native",
            "INFORMATIONAL",
        ),
        ({}, {"severity": [{"type": "Ubuntu", "score": "high"}]}, "ecr-native", "HIGH"),
        ({}, {"database_specific": {"severity": "MODERATE"}}, "ecr-native", "MEDIUM"),
        (
            {"urgency": "low"},
            {
                "severity": [
                    {"type": "CVSS_V3", "score": V3_CRITICAL},
                    {"type": "CVSS_V2", "score": V2_HIGH},
                ]
            },
            "clair-compat",
            "LOW",
        ),
        (
            {},
            {
                "severity": [
                    {"type": "CVSS_V3", "score": V3_CRITICAL},
                    {"type": "CVSS_V2", "score": V2_HIGH},
                ]
            },
            "clair-compat",
            "HIGH",
        ),
    ],
)
def test_severity_policy(
    tmp_path: Path, specific: dict, extra: dict, policy: str, expected: str
) -> None:
    index = index_of(tmp_path, rec("DEBIAN-CVE-2024-5", "bash", specific=specific, **extra))
    (finding,) = match(inventory(deb("bash", "1.0-1")), index, False, policy)
    assert finding.severity == expected


def test_cvss_attributes_and_borrowed_severity(tmp_path: Path) -> None:
    index = index_of(
        tmp_path,
        rec("DSA-1", "curl", upstream=["CVE-2024-7"]),
        {
            "id": "CVE-2024-7",
            "modified": "2024-01-01T00:00:00Z",
            "severity": [
                {"type": "CVSS_V3", "score": V3_CRITICAL},
                {"type": "CVSS_V2", "score": V2_HIGH},
            ],
        },
    )
    (finding,) = match(inventory(deb("curl", "1.0-1")), index, False)
    assert finding.severity == "CRITICAL"
    assert finding.cvss == {
        "CVSS3_SCORE": "9.8",
        "CVSS3_VECTOR": V3_CRITICAL,
        "CVSS2_SCORE": "7.5",
        "CVSS2_VECTOR": V2_HIGH,
    }


def test_severity_counts_lists_only_non_zero() -> None:
    pkg = deb("a", "1")
    findings = [
        Finding("CVE-1", pkg, "HIGH"),
        Finding("CVE-2", pkg, "HIGH"),
        Finding("CVE-3", pkg, "UNDEFINED"),
    ]
    assert severity_counts(findings) == {"HIGH": 2, "UNDEFINED": 1}
    assert severity_counts([]) == {}


@pytest.mark.parametrize(
    ("ecosystem", "vid", "uri"),
    [
        ("Debian:12", "CVE-2024-1", "https://security-tracker.debian.org/tracker/CVE-2024-1"),
        ("Debian:12", "DSA-1-1", "https://security-tracker.debian.org/tracker/DSA-1-1"),
        ("Ubuntu:22.04:LTS", "CVE-2024-1", "https://ubuntu.com/security/CVE-2024-1"),
        ("Alpine:v3.19", "CVE-2024-1", "https://security.alpinelinux.org/vuln/CVE-2024-1"),
        ("Rocky Linux:9", "CVE-2024-1", "https://access.redhat.com/security/cve/CVE-2024-1"),
        ("PyPI", "CVE-2024-1", "https://nvd.nist.gov/vuln/detail/CVE-2024-1"),
        ("npm", "GHSA-aaaa-bbbb-cccc", "https://osv.dev/vulnerability/GHSA-aaaa-bbbb-cccc"),
    ],
)
def test_uri_per_distro(ecosystem: str, vid: str, uri: str) -> None:
    assert uri_for(ecosystem, vid) == uri


def test_rematching_uses_new_data_after_an_import(tmp_path: Path) -> None:
    index = index_of(tmp_path, rec("X-1", "tar"))
    inv = inventory(deb("tar", "1.0-1"))
    assert [f.id for f in match(inv, index, False)] == ["X-1"]
    assert [f.id for f in match(inv, index, False)] == ["X-1"]  # memoised
    import_sources([], tmp_path / "data", replace=True)
    assert match(inv, index, False) == []


# -- the fixture advisories, end to end -------------------------------------------------------

FIXTURE_EXPECTATIONS = [
    # (ecosystem, package, source, vulnerable version, fixed, finding id, severity, manager)
    (
        "Debian:12",
        "tar",
        "tar",
        "1.34+dfsg-1.2",
        "1.34+dfsg-1.2+deb12u1",
        "CVE-2022-48303",
        "UNDEFINED",
        "dpkg",
    ),
    (
        "Debian:12",
        "tar",
        "tar",
        "1.34+dfsg-1.2",
        "1.34+dfsg-1.2+deb12u1",
        "CVE-2023-39804",
        "UNDEFINED",
        "dpkg",
    ),
    (
        "Alpine:v3.19",
        "musl-utils",
        "musl",
        "1.2.4_git20230717-r4",
        "1.2.4_git20230717-r5",
        "CVE-2025-26519",
        "HIGH",
        "apk",
    ),
    ("PyPI", "requests", "", "2.25.0", "2.31.0", "CVE-2023-32681", "UNDEFINED", "python"),
    ("npm", "ansi-html", "", "0.0.7", "0.0.8", "CVE-2021-23424", "HIGH", "npm"),
]


@pytest.fixture
def fixture_index(tmp_path: Path) -> VulnIndex:
    import_sources(zip_fixtures(tmp_path / "zips"), tmp_path / "data")
    return VulnIndex(tmp_path / "data")


@pytest.mark.parametrize("case", FIXTURE_EXPECTATIONS, ids=[c[5] for c in FIXTURE_EXPECTATIONS])
def test_fixture_advisories(fixture_index: VulnIndex, case: tuple) -> None:
    eco, name, source, vulnerable, fixed, vid, severity, manager = case
    pkg = Package(eco, name, vulnerable, source_name=source, package_manager=manager)
    found = {f.id: f for f in match(Inventory(None, (pkg,)), fixture_index, True)}
    assert (found[vid].severity, found[vid].fixed_version) == (severity, fixed)
    patched = Package(eco, name, fixed, source_name=source, package_manager=manager)
    assert vid not in {f.id for f in match(Inventory(None, (patched,)), fixture_index, True)}


# -- ECR shapes -------------------------------------------------------------------------------


def _model_members(shape_name: str) -> set[str]:
    model = botocore.session.get_session().get_service_model("ecr")
    return set(model.shape_for(shape_name).members)


def _findings(fixture_index: VulnIndex) -> list[Finding]:
    packages = tuple(
        Package(
            e,
            n,
            v,
            source_name=s,
            package_manager=m,
            arch="amd64",
            layer_digest="sha256:" + "a" * 64,
        )
        for e, n, s, v, _, _, _, m in FIXTURE_EXPECTATIONS
    )
    return match(Inventory(None, packages), fixture_index, True)


def test_basic_findings_fit_the_model(fixture_index: VulnIndex) -> None:
    findings = _findings(fixture_index)
    docs = basic_findings(findings)
    assert {k for d in docs for k in d} <= _model_members("ImageScanFinding")
    musl = next(d for d in docs if d["name"] == "CVE-2025-26519")
    assert musl["uri"] == "https://security.alpinelinux.org/vuln/CVE-2025-26519"
    assert musl["attributes"] == [
        {"key": "package_version", "value": "1.2.4_git20230717-r4"},
        {"key": "package_name", "value": "musl"},
        {"key": "CVSS3_SCORE", "value": "7"},
        {"key": "CVSS3_VECTOR", "value": "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:H/A:H"},
    ]
    body = serialize_shape(
        "ImageScanFindings",
        {
            "findings": docs,
            "findingSeverityCounts": severity_counts(findings),
            "imageScanCompletedAt": datetime(2026, 1, 1, tzinfo=UTC),
        },
    )
    assert body["findingSeverityCounts"] == {"HIGH": 2, "UNDEFINED": 3}
    assert [f["severity"] for f in body["findings"]] == [
        "HIGH",
        "HIGH",
        "UNDEFINED",
        "UNDEFINED",
        "UNDEFINED",
    ]


def test_enhanced_findings_fit_the_model(fixture_index: VulnIndex) -> None:
    scanned = datetime(2026, 1, 2, tzinfo=UTC)
    image = ImageContext(
        account_id="123456789012",
        region="us-west-2",
        repository_name="sample-repo",
        image_digest="sha256:" + "b" * 64,
        scanned_at=scanned,
        image_tags=("latest",),
        platform="DEBIAN_12",
        architecture="amd64",
    )
    docs = enhanced_findings(_findings(fixture_index), image)
    assert {k for d in docs for k in d} <= _model_members("EnhancedImageScanFinding")
    body = serialize_shape("ImageScanFindings", {"enhancedFindings": docs})
    tar = next(
        d
        for d in body["enhancedFindings"]
        if d["packageVulnerabilityDetails"]["vulnerabilityId"] == "CVE-2022-48303"
    )
    assert tar["title"] == "CVE-2022-48303 - tar" and tar["severity"] == "UNTRIAGED"
    package = tar["packageVulnerabilityDetails"]["vulnerablePackages"][0]
    assert package == {
        "name": "tar",
        "version": "1.34+dfsg",
        "release": "1.2",
        "epoch": 0,
        "arch": "AMD64",
        "packageManager": "OS",
        "sourceLayerHash": "sha256:" + "a" * 64,
        "fixedInVersion": "1.34+dfsg-1.2+deb12u1",
    }
    assert tar["fixAvailable"] == "YES"
    assert tar["resources"][0]["id"] == (
        "arn:aws:ecr:us-west-2:123456789012:repository/sample-repo/sha256:" + "b" * 64
    )
    npm = next(d for d in body["enhancedFindings"] if d["title"].endswith("ansi-html"))
    assert npm["score"] == 7.5 and npm["severity"] == "HIGH"
    assert npm["packageVulnerabilityDetails"]["vendorSeverity"] == "HIGH"
    assert npm["packageVulnerabilityDetails"]["source"] == "GITHUB"
    assert (
        npm["packageVulnerabilityDetails"]["vulnerablePackages"][0]["packageManager"] == "NODEPKG"
    )
