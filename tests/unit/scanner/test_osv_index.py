"""The OSV index: import from zips and directories, status, withdrawn and bad records, swaps."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.unit.scanner.osv_fixtures import zip_fixtures

from dockyard.backends.scanner.osv_index import Limits, VulnIndex, import_sources
from dockyard.cli.main import main

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def record(vid: str, name: str = "openssl", ecosystem: str = "Debian:12", **extra) -> dict:
    body = {
        "id": vid,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1"}]}
                ],
            }
        ],
    }
    body.update(extra)
    return body


def write_zip(path: Path, members: dict[str, bytes | dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, body in members.items():
            archive.writestr(name, body if isinstance(body, bytes) else json.dumps(body))
    return path


@pytest.fixture
def fixture_index(tmp_path: Path) -> VulnIndex:
    import_sources(zip_fixtures(tmp_path / "zips"), tmp_path / "data", now=NOW)
    index = VulnIndex(tmp_path / "data")
    yield index
    index.close()


def test_import_fixture_zips_and_report_status(fixture_index: VulnIndex) -> None:
    status = fixture_index.status()
    assert status["available"] and status["generation"] == 1
    assert status["record_count"] == 7
    assert status["imported_at"] == "2026-11-27T12:00:00Z"
    assert status["max_modified"] == "2026-07-08T04:32:24.548042624Z"
    assert status["ecosystems"]["Debian:12"] == {
        "records": 2,
        "max_modified": "2024-01-20T09:27:07Z",
    }
    assert status["ecosystems"]["PyPI"]["records"] == 1
    assert status["ecosystems"]["Alpine:v3.19"]["records"] == 1
    assert [s["records"] for s in status["sources"]] == [1, 4, 1, 1]


def test_lookup_by_ecosystem_and_name(fixture_index: VulnIndex) -> None:
    rows = fixture_index.affected_for(
        [("Debian:12", "tar"), ("Debian:11", "tar"), ("PyPI", "Requests")]
    )
    assert sorted(r.vuln_id for r in rows[("Debian:12", "tar")]) == [
        "x_DEBIAN12-tar-CVE-2022-48303",
        "x_DEBIAN12-tar-CVE-2023-39804",
    ]
    assert rows[("Debian:11", "tar")] == []
    (pysec,) = rows[("PyPI", "requests")]
    assert [r["type"] for r in pysec.ranges] == ["ECOSYSTEM"]  # the GIT range is dropped
    assert "2.25.0" in pysec.versions
    vuln = fixture_index.vulns(["PYSEC-2023-74", "nope"])
    assert list(vuln) == ["PYSEC-2023-74"]
    assert vuln["PYSEC-2023-74"].aliases == ("CVE-2023-32681", "GHSA-j8r2-6x86-q33q")


def test_directory_and_single_file_sources(tmp_path: Path) -> None:
    src = tmp_path / "src" / "nested"
    src.mkdir(parents=True)
    (src / "A-1.json").write_text(json.dumps(record("A-1")))
    (src / "notes.txt").write_text("not a record")
    single = tmp_path / "B-1.json"
    single.write_text(json.dumps(record("B-1", name="zlib")))
    report = import_sources([tmp_path / "src", single], tmp_path / "data", now=NOW)
    assert (report.imported, report.ignored_files) == (2, 1)


def test_pypi_names_are_normalised(tmp_path: Path) -> None:
    zipped = write_zip(
        tmp_path / "PyPI.zip", {"P-1.json": record("P-1", name="Foo_Bar.baz", ecosystem="PyPI")}
    )
    import_sources([zipped], tmp_path, now=NOW)
    index = VulnIndex(tmp_path)
    assert [
        r.name for r in index.affected_for([("PyPI", "foo-bar-baz")])[("PyPI", "foo-bar-baz")]
    ] == ["foo-bar-baz"]
    assert index.affected_for([("PyPI", "FOO__bar-Baz")])[("PyPI", "foo-bar-baz")]


def test_withdrawn_records_are_skipped_and_remove_earlier_copies(tmp_path: Path) -> None:
    first = write_zip(tmp_path / "1.zip", {"W-1.json": record("W-1"), "K-1.json": record("K-1")})
    import_sources([first], tmp_path / "data", now=NOW)
    second = write_zip(
        tmp_path / "2.zip",
        {
            "W-1.json": record("W-1", withdrawn="2024-06-01T00:00:00Z"),
            "W-2.json": record("W-2", withdrawn="2024-06-01T00:00:00Z"),
        },
    )
    report = import_sources([second], tmp_path / "data", now=NOW)
    assert (report.imported, report.skipped_withdrawn) == (0, 2)
    index = VulnIndex(tmp_path / "data")
    assert sorted(index.vulns(["W-1", "W-2", "K-1"])) == ["K-1"]
    assert [
        r.vuln_id for r in index.affected_for([("Debian:12", "openssl")])[("Debian:12", "openssl")]
    ] == ["K-1"]


def test_bad_records_are_counted_not_fatal(tmp_path: Path) -> None:
    zipped = write_zip(
        tmp_path / "bad.zip",
        {
            "GOOD-1.json": record("GOOD-1"),
            "junk.json": b"not json at all {",
            "list.json": b"[1, 2]",
            "noid.json": {"affected": []},
            "badid.json": record("../../etc/passwd"),
            "binary.json": b"\xff\xfe\x00garbage",
            "huge.json": json.dumps(record("HUGE-1", details="x" * 5000)).encode(),
            "README.md": b"# not a record",
            "nested/": b"",
        },
    )
    report = import_sources([zipped], tmp_path / "data", now=NOW, limits=Limits(record_bytes=2000))
    assert report.imported == 1
    assert report.skipped_bad == 6
    assert report.ignored_files == 2
    assert any("huge.json" in e for e in report.errors)


def test_a_lying_zip_member_size_is_capped(tmp_path: Path) -> None:
    zipped = write_zip(tmp_path / "bomb.zip", {"BOMB-1.json": b"{" + b" " * 10_000 + b"}"})
    report = import_sources([zipped], tmp_path / "data", limits=Limits(record_bytes=1000))
    assert (report.imported, report.skipped_bad) == (0, 1)


def test_unusable_source_is_refused_before_writing(tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a zip"):
        import_sources([tmp_path / "x.tar"], tmp_path / "data")
    with pytest.raises(FileNotFoundError):
        import_sources([tmp_path / "missing.zip"], tmp_path / "data")
    assert not (tmp_path / "data" / "vulndb.sqlite").exists()


def test_imports_merge_unless_replace(tmp_path: Path) -> None:
    data = tmp_path / "data"
    import_sources([write_zip(tmp_path / "a.zip", {"A-1.json": record("A-1")})], data)
    import_sources([write_zip(tmp_path / "b.zip", {"B-1.json": record("B-1")})], data)
    assert VulnIndex(data).status()["record_count"] == 2
    import_sources([write_zip(tmp_path / "c.zip", {"C-1.json": record("C-1")})], data, replace=True)
    status = VulnIndex(data).status()
    assert (status["record_count"], status["generation"]) == (1, 3)


def test_a_running_reader_sees_old_data_until_refresh(tmp_path: Path) -> None:
    data = tmp_path / "data"
    index = VulnIndex(data)
    assert not index.available and index.status()["record_count"] == 0
    import_sources([write_zip(tmp_path / "a.zip", {"A-1.json": record("A-1")})], data)
    assert index.refresh() and index.status()["generation"] == 1
    import_sources([write_zip(tmp_path / "b.zip", {"B-1.json": record("B-1")})], data)
    assert index.status()["generation"] == 1  # still reading the replaced file
    assert index.refresh() and index.status()["generation"] == 2
    assert not index.refresh()  # unchanged: just a stat
    assert not list(data.glob(".vulndb-*"))  # no temporary file left behind


def test_cve_severity_is_borrowed_through_aliases(tmp_path: Path) -> None:
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    zipped = write_zip(
        tmp_path / "s.zip",
        {
            "CVE-2024-1.json": {
                "id": "CVE-2024-1",
                "modified": "2024-01-01T00:00:00Z",
                "severity": [{"type": "CVSS_V3", "score": vector}],
            },
            "GHSA-x.json": record(
                "GHSA-x",
                aliases=["CVE-2024-2"],
                severity=[{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}],
            ),
            "DSA-1.json": record("DSA-1", upstream=["CVE-2024-1", "CVE-2024-2"]),
        },
    )
    import_sources([zipped], tmp_path)
    borrowed = VulnIndex(tmp_path).borrowed_severity(["CVE-2024-1", "CVE-2024-2", "CVE-2024-3"])
    assert borrowed["CVE-2024-1"] == [{"type": "CVSS_V3", "score": vector}]
    assert borrowed["CVE-2024-2"][0]["type"] == "CVSS_V2"
    assert "CVE-2024-3" not in borrowed


def test_cli_import_and_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zips = zip_fixtures(tmp_path / "zips")
    assert main(["vulndb", "import", *map(str, zips), "--data-dir", str(tmp_path)]) == 0
    assert "imported 7 records" in capsys.readouterr().out
    assert main(["vulndb", "status", "--json", "--data-dir", str(tmp_path)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["record_count"] == 7 and status["ecosystems"]["npm"]["records"] == 1
    assert main(["vulndb", "status", "--data-dir", str(tmp_path)]) == 0
    assert "Alpine:v3.19" in capsys.readouterr().out


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write_zip(tmp_path / "bad.zip", {"junk.json": b"{", "OK-1.json": record("OK-1")})
    assert main(["vulndb", "import", str(bad), "--data-dir", str(tmp_path)]) == 1
    assert main(["vulndb", "import", str(tmp_path / "none.zip"), "--data-dir", str(tmp_path)]) == 2
    assert main(["vulndb", "status", "--data-dir", str(tmp_path / "empty")]) == 0
    assert "no vulnerability database" in capsys.readouterr().out


def test_open_index_is_shared_and_reports_generation_and_source_time(tmp_path: Path) -> None:
    from dockyard.backends.scanner.osv_index import open_index

    index = open_index(tmp_path)
    assert (index.generation(), index.source_updated_at()) == ("", None)
    import_sources([write_zip(tmp_path / "a.zip", {"A-1.json": record("A-1")})], tmp_path)
    assert open_index(tmp_path) is index
    assert index.generation() == "1"
    assert index.source_updated_at() == datetime(2024, 1, 1, tzinfo=UTC).timestamp()
