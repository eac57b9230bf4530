"""The --test-clock offset clock and the audit log's lines and sinks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard.backends.factory import ConfigurationError
from dockyard.events_setup import audit_sink
from dockyard.services.audit import AuditLog, acting_as
from dockyard.services.clock import FixedClock, OffsetClock


def test_offset_clock_adds_what_the_file_says_and_follows_changes(tmp_path: Path) -> None:
    base, path = FixedClock(1000.0), tmp_path / "clock"
    clock = OffsetClock(base, path)
    assert clock.now() == 1000.0  # no file: no offset
    path.write_text("60")
    assert clock.now() == 1060.0
    staged = tmp_path / "clock.new"
    staged.write_text("7200.5")
    os.replace(staged, path)  # how dockyard.testing writes it
    base.advance(1)
    assert clock.now() == 1000.0 + 1 + 7200.5


def test_offset_clock_ignores_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    path.write_text("soon")
    assert OffsetClock(FixedClock(5.0), path).now() == 5.0


def test_audit_line_names_the_caller_and_the_change() -> None:
    lines: list[str] = []
    audit = AuditLog(lines.append, FixedClock(1_700_000_000.25))
    with acting_as("111111111111", "arn:aws:iam::111111111111:user/ci"):
        audit.record("DeleteImage", repository="a/b", digest="sha256:x", tags=["v1"])
    assert lines[0].endswith("\n") and lines[0].count("\n") == 1
    assert json.loads(lines[0]) == {
        "time": "2023-11-14T22:13:20.250Z",
        "account": "111111111111",
        "principal": "arn:aws:iam::111111111111:user/ci",
        "action": "DeleteImage",
        "repository": "a/b",
        "digest": "sha256:x",
        "tags": ["v1"],
        "result": "SUCCESS",
    }


def test_recording_logs_failures_with_the_error_name_and_reraises() -> None:
    lines: list[str] = []
    audit = AuditLog(lines.append, FixedClock())
    with pytest.raises(KeyError), audit.recording("PushImage", account="1" * 12) as entry:
        entry.digest = "sha256:y"
        raise KeyError("nope")
    line = json.loads(lines[0])
    assert (line["result"], line["error"], line["digest"]) == ("FAILED", "KeyError", "sha256:y")


def test_an_audit_log_that_is_off_writes_nothing() -> None:
    audit = AuditLog(None, FixedClock())
    audit.record("PushImage")
    assert audit.sink is None and not audit.enabled


def test_audit_sinks(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "audit.jsonl"
    for text in ("a\n", "b\n"):
        sink = audit_sink(str(path))
        assert sink is not None
        sink(text)  # appends, also across opens (restarts, several workers)
    assert path.read_text() == "a\nb\n"
    stderr = audit_sink("-")
    assert stderr is not None
    stderr("to stderr\n")
    assert capfd.readouterr().err == "to stderr\n"
    with pytest.raises(ConfigurationError, match="cannot open --audit-log"):
        audit_sink(str(tmp_path / "missing" / "audit.jsonl"))
